"""botocore's service models trimmed to the operations Goldsmith calls, cached on disk per botocore release.

EC2's model describes 765 operations in 3 MB of JSON; Goldsmith calls 37 of them. Parsing the whole model
and making a client class with a method per operation took ~0.28 s of every bake's start-up on a 2-core
EPYC (and again for each region's client of each bake of a pipeline); from the trimmed model, ~0.07 s.

The operations kept are the ones in Goldsmith's IAM policy (goldsmith/aws/permissions.py), which a unit test
keeps complete: every client method the product calls has a statement there. The trimmed model keeps
everything else of the full one (metadata, the shapes those operations reach), so requests, answers,
retries, waiters and paginators are botocore's own. A trimmed file is written once per botocore release and
set of operations under the user's cache directory; when that cannot be written the model is trimmed in
memory (still the faster client).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import botocore
import botocore.loaders

from goldsmith.aws.permissions import STATEMENTS, UNLISTED_CALLS
from goldsmith.engine.files import user_cache_dir, write_text_atomic


def operations_called() -> dict[str, frozenset[str]]:
    """Service (botocore's name) -> the operations Goldsmith may call on it."""
    found: dict[str, set[str]] = {}
    for action in [a for s in STATEMENTS for a in s.actions] + list(UNLISTED_CALLS):
        service, _, operation = action.partition(":")
        found.setdefault(service, set()).add(operation)
    return {service: frozenset(ops) for service, ops in found.items()}


def trim(model: dict[str, Any], operations: Iterable[str]) -> dict[str, Any]:
    """The model with only `operations` and the shapes they reach (inputs, outputs, errors, recursively)."""
    shapes: dict[str, Any] = model["shapes"]
    kept: set[str] = set()
    pending: list[str] = []
    ops = {name: model["operations"][name] for name in sorted(operations) if name in model["operations"]}
    for op in ops.values():
        pending += [op[k]["shape"] for k in ("input", "output") if k in op]
        pending += [error["shape"] for error in op.get("errors", ())]
    while pending:
        name = pending.pop()
        if name in kept:
            continue
        kept.add(name)
        shape = shapes[name]
        pending += [member["shape"] for member in shape.get("members", {}).values()]
        pending += [shape[k]["shape"] for k in ("member", "key", "value") if k in shape]
    return model | {"operations": ops, "shapes": {name: s for name, s in shapes.items() if name in kept}}


class TrimmedLoader(botocore.loaders.Loader):
    """A botocore data loader that serves trimmed service models for the services in `operations`."""

    def __init__(self, operations: dict[str, frozenset[str]], directory: Path | None = None) -> None:
        # AWS_DATA_PATH: extra model directories, as botocore's own sessions read them
        extra = [os.path.expanduser(p) for p in os.environ.get("AWS_DATA_PATH", "").split(os.pathsep) if p]
        super().__init__(extra_search_paths=extra)
        self._operations = operations
        if directory is None:
            with contextlib.suppress(OSError):  # no home directory: trimmed in memory, every time
                directory = user_cache_dir(f"botocore-{botocore.__version__}")
        self._directory = directory
        self._trimmed: dict[tuple[str, str], Any] = {}

    def load_service_model(self, service_name: str, type_name: str, api_version: str | None = None) -> Any:
        operations = self._operations.get(service_name)
        if type_name != "service-2" or not operations:
            return super().load_service_model(service_name, type_name, api_version)
        version = api_version or self.determine_latest_version(service_name, type_name)
        if (service_name, version) not in self._trimmed:
            self._trimmed[service_name, version] = self._load_trimmed(service_name, version, operations)
        return self._trimmed[service_name, version]

    def _load_trimmed(self, service_name: str, version: str, operations: frozenset[str]) -> Any:
        digest = hashlib.sha256("\n".join(sorted(operations)).encode()).hexdigest()[:16]
        path = self._directory / f"{service_name}-{version}-{digest}.json" if self._directory else None
        if path is not None:
            try:
                with path.open(encoding="utf-8") as handle:
                    return json.load(handle)
            except (OSError, ValueError):
                pass
        model = trim(super().load_service_model(service_name, "service-2", version), operations)
        if path is not None:
            with contextlib.suppress(OSError):  # processes starting together may each write it: the last rename wins
                write_text_atomic(path, json.dumps(model, separators=(",", ":")))
        return model

