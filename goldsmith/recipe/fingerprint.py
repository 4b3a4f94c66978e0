"""A bake's input fingerprint: a sha256 over everything the image depends on, for the build cache.

Same fingerprint => same recipe (after variables are resolved), same content of every file the bake
uploads, renders or runs (scripts, file and template sources, validation suites and the conftest.py
beside them), same resolved source AMI id, same Goldsmith major version: the image a bake would make
is, for every practical purpose, the image a previous bake with this fingerprint made. It is stored on
the AMI as the goldsmith:fingerprint tag (goldsmith.images.cache looks it up).

The source AMI id is an argument rather than looked up here (this package never calls AWS): a new base
image, or a new bake of an upstream recipe, changes it and so invalidates every image built on it. The
upstream recipe's *file* is deliberately not an input: what the downstream image depends on is the AMI
the upstream bake produced, not its YAML.

Secret variables enter only as an HMAC-SHA256 under a per-project key (a plain hash of a password could
be brute-forced from the tag): changing a secret's value changes the fingerprint, the value itself can
never be recovered from it without the key. The recipe's own text of a secret variable (a default in the
YAML) is left out of the recipe part for the same reason; its resolved value is in the keyed part.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from goldsmith import __version__
from goldsmith.recipe.loader import LoadedRecipe
from goldsmith.recipe.model import FileStep, ShellStep, TemplateStep

__all__ = ["FORMAT", "fingerprint", "input_files", "major_version"]

FORMAT = "goldsmith-fingerprint-2"  # bump when what is hashed changes, so old tags stop matching
_SKIP_PARTS = {"__pycache__", ".pytest_cache", ".git"}


def major_version() -> str:
    """Goldsmith's major version: a new major may bake differently from the same inputs."""
    return __version__.split(".", 1)[0]


def input_files(loaded: LoadedRecipe) -> list[str]:
    """Project-relative paths whose content the image depends on: scripts run, files uploaded, templates
    rendered, validation suites (and the conftest.py pytest loads beside a suite file)."""
    recipe = loaded.recipe
    paths: list[str] = []
    for step in recipe.provision:
        if isinstance(step, ShellStep) and step.script:
            paths.append(step.script)
        elif isinstance(step, FileStep | TemplateStep):
            paths.append(step.source)
    for suite in recipe.validate_.suites:
        paths.append(suite)
        conftest = Path(suite).parent / "conftest.py"
        if not (loaded.root / suite).is_dir() and (loaded.root / conftest).is_file():
            paths.append(conftest.as_posix())
    return sorted(set(paths))


def _files(root: Path, relative: str) -> Iterator[tuple[str, Path]]:
    """(project-relative name, path) for a file, or every file under a directory, in sorted order."""
    target = root / relative
    if target.is_dir():
        for path in sorted(target.rglob("*")):
            if path.is_file() and not _SKIP_PARTS & set(path.parts) and path.suffix != ".pyc":
                yield path.relative_to(root).as_posix(), path
    else:
        yield relative, target


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return "missing"
    return digest.hexdigest()


def _recipe_part(loaded: LoadedRecipe) -> dict[str, Any]:
    """The normalized recipe (comments and key order do not matter), secret variables' own text left out."""
    data = loaded.recipe.model_dump(mode="json", by_alias=True)
    for name in loaded.secret_names:
        variable = data.get("variables", {}).get(name)
        if isinstance(variable, dict):
            variable.pop("default", None)
    return data


def fingerprint(loaded: LoadedRecipe, source_ami: str, *, secret_key: bytes | None = None) -> str:
    """Hex sha256 of the bake's inputs (see the module docstring).

    ``secret_key`` keys the hash of secret variable values; it is required when the recipe has any
    (goldsmith.images.cache.cache_key gives the project's)."""
    secret_values = {n: loaded.variables[n] for n in sorted(loaded.secret_names) if n in loaded.variables}
    if secret_values and not secret_key:
        raise ValueError("a recipe with secret variables needs a secret_key for its fingerprint")
    payload = {
        "format": FORMAT,
        "goldsmith": major_version(),
        "source_ami": source_ami,
        "recipe": _recipe_part(loaded),
        "variables": {k: v for k, v in sorted(loaded.variables.items()) if k not in loaded.secret_names},
        "secrets": {name: hmac.new(secret_key or b"", f"{name}\0{value}".encode(), hashlib.sha256).hexdigest()
                    for name, value in secret_values.items()},
    }
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode())
    for relative in input_files(loaded):
        for name, path in _files(loaded.root, relative):
            digest.update(f"{name}\0{_file_digest(path)}\n".encode())
    return digest.hexdigest()
