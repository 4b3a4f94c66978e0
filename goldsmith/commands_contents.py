"""What the contents task does (`invoke diff`), as a plain function tests call directly; tasks_contents.py
only adapts it to invoke. It reads the contents bakes recorded in the work dir: no AWS call, and bad input
(an unknown build, an AMI no manifest names, a build without recorded contents) is InputError, exit 2."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from goldsmith.errors import InputError

if TYPE_CHECKING:
    from goldsmith.commands import Settings


def diff(settings: Settings, old: str, new: str, *, as_json: bool = False, manifests: Sequence[str] = ()) -> str:
    """The packages added, removed, upgraded and downgraded from image OLD to image NEW, and their OS and
    kernel: text for people, or JSON. OLD and NEW are build ids, AMI ids or RECIPE@VERSION."""
    from goldsmith.images.diff import Diff, load_manifest_builds, resolve

    for label, value in (("OLD", old), ("NEW", new)):
        if not value.strip():
            raise InputError(f"diff: {label} is empty; give a build id, an AMI id (ami-...) or RECIPE@VERSION")
    entries = load_manifest_builds(settings.work_dir, [Path(m) for m in manifests])
    result = Diff.of(resolve(old, settings.work_dir, entries), resolve(new, settings.work_dir, entries))
    return json.dumps(result.to_json(), indent=2) if as_json else result.text()
