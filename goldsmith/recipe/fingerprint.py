"""A sha256 fingerprint of everything a bake's result depends on that lives in the project.

Same fingerprint => same recipe, same non-secret variable values and same referenced files, so a build
cache may reuse an image. Secret values are left out on purpose (a hash of a password can be brute-
forced), only their names are included; change a secret and bump the recipe's version to rebuild.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

from goldsmith.errors import InputError
from goldsmith.recipe.checks import source_recipe_path
from goldsmith.recipe.loader import LoadedRecipe
from goldsmith.recipe.model import FileStep, ShellStep, TemplateStep

VERSION = "goldsmith-fingerprint-1"
_SKIP_PARTS = {"__pycache__", ".pytest_cache", ".git"}


def referenced_files(loaded: LoadedRecipe) -> list[str]:
    """Project-relative paths the recipe reads: scripts, uploads, templates, suites, its source recipe."""
    recipe = loaded.recipe
    paths: list[str] = []
    for step in recipe.provision:
        if isinstance(step, ShellStep) and step.script:
            paths.append(step.script)
        elif isinstance(step, FileStep | TemplateStep):
            paths.append(step.source)
    paths.extend(recipe.validate_.suites)
    if recipe.source.recipe:
        try:
            source = source_recipe_path(loaded.root, recipe.source.recipe)
        except InputError:
            pass  # removed since the recipe was loaded; the bake reports it
        else:
            paths.append(source.relative_to(loaded.root).as_posix())
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
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "missing"


def fingerprint(loaded: LoadedRecipe) -> str:
    """Hex sha256 over the normalized recipe, non-secret variables and referenced file contents."""
    payload = {
        "version": VERSION,
        "recipe": loaded.recipe.model_dump(mode="json", by_alias=True),
        "variables": {k: v for k, v in sorted(loaded.variables.items()) if k not in loaded.secret_names},
        "secret_variables": sorted(loaded.secret_names),
    }
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode())
    for relative in referenced_files(loaded):
        for name, path in _files(loaded.root, relative):
            digest.update(f"{name}\0{_file_digest(path)}\n".encode())
    return digest.hexdigest()
