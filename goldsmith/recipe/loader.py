"""Load a recipe file: parse, validate, resolve variables, check files, templates and publishing rules, all
at once.

Every mistake found in one run is raised together as a RecipeError, each as file:line:column.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from goldsmith.errors import InputError, Problem, RecipeError
from goldsmith.recipe import templating
from goldsmith.recipe.checks import CheckContext, escaping_path, run_checks, source_recipe_path
from goldsmith.recipe.model import Image, Recipe
from goldsmith.recipe.problems import problems_from
from goldsmith.recipe.publishing import publishing_problems
from goldsmith.recipe.templating import BUILD_FACTS
from goldsmith.recipe.variables import parse_var_args, resolve_variables
from goldsmith.recipe.yaml_source import YamlDocument, read_mapping
from goldsmith.report.redact import Redactor

__all__ = ["BUILD_FACTS", "LoadedRecipe", "find_root", "load_recipe", "parse_var_args", "source_recipe_path"]

ROOT_MARKERS = ("invoke.yaml", "tasks.py")
_NO_VARS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class LoadedRecipe:
    """A valid recipe with its location and resolved variables."""

    recipe: Recipe
    path: Path  # the recipe file, as given
    root: Path  # the project root (absolute); recipe paths are relative to it
    variables: dict[str, str]
    secrets: frozenset[str]  # the values of secret variables, for redaction
    secret_names: frozenset[str] = field(default=frozenset())

    def resolve(self, relative: str) -> Path:
        """A recipe path (script, template, suite) as a path on this machine, never outside the root.

        Symlinks are followed first, so a link to /proc/self/environ or ~/.aws/credentials cannot be
        uploaded to the instance. Absolute paths (only local-only fields such as a bastion key may be
        absolute; the checks reject them elsewhere) are returned as given.
        """
        if Path(relative).is_absolute():
            return Path(relative)
        escape = escaping_path(self.root, relative) if (self.root / relative).exists() else None
        if escape is not None:
            raise InputError(f"{self.path}: {escape}; copy the file into the project instead of linking to it")
        return self.root / relative

    def render(self, template: str, **facts: str) -> str:
        """Render a recipe template with the variables and the given build facts (StrictUndefined)."""
        return templating.render(template, {**self.variables, **facts})

    def redact(self, text: str) -> str:
        """Text with the secret values (and private keys) masked, by the rules of every log and manifest
        (goldsmith.report.redact.Redactor)."""
        return Redactor(self.secrets)(text)


def find_root(recipe_path: Path) -> Path:
    """First ancestor directory holding invoke.yaml or tasks.py, else the recipe's own directory."""
    start = recipe_path.resolve().parent
    for directory in (start, *start.parents):
        if any((directory / marker).is_file() for marker in ROOT_MARKERS):
            return directory
    return start


def parse_recipe(path: Path) -> tuple[YamlDocument, list[Problem]]:
    """The recipe file's document and its parse problems (duplicate keys); RecipeError if it has none."""
    return read_mapping(Path(path), str(path), "recipe", "name, source, image, ...")


def load_recipe(
    path: Path, cli_vars: Mapping[str, str] = _NO_VARS, environ: Mapping[str, str] = os.environ,
    parsed: tuple[YamlDocument, list[Problem]] | None = None,
) -> LoadedRecipe:
    """Load and check a recipe (already parsed by parse_recipe, or not); raises RecipeError listing every
    problem found."""
    path = Path(path)
    document, parse_problems = parsed or parse_recipe(path)
    problems = list(parse_problems)
    recipe: Recipe | None = None
    try:
        recipe = Recipe.model_validate(document.data)
    except ValidationError as exc:
        problems.extend(problems_from(exc, document, Recipe))
    resolved = resolve_variables(document, cli_vars, environ)
    problems.extend(resolved.problems)
    root = find_root(path)
    check_values = {name: resolved.values.get(name, "value") for name in resolved.declared}
    context = CheckContext(
        document, root, check_values, frozenset(resolved.declared), frozenset(resolved.secret_names)
    )
    problems.extend(run_checks(context))
    image = recipe.image if recipe is not None else _valid_image(document.data.get("image"))
    if image is not None:
        for broken in publishing_problems(image, datetime.now(UTC)):
            problems.append(document.problem(("image", *broken.path), broken.message))
    if problems or recipe is None:
        raise RecipeError(problems)
    secrets = frozenset(resolved.values[n] for n in resolved.secret_names if n in resolved.values)
    return LoadedRecipe(recipe, path, root, resolved.values, secrets, frozenset(resolved.secret_names))


def _valid_image(data: Any) -> Image | None:
    """The image section as a model when it is valid on its own (the rest of the recipe is not), so its
    publishing rules are reported in the same run as the other mistakes."""
    try:
        return Image.model_validate(data)
    except ValidationError:
        return None
