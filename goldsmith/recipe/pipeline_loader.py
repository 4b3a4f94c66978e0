"""Load a pipeline file: its own schema, every recipe it names (with the pipeline's overrides applied),
and the dependency graph between them, every mistake at once as file:line:column (RecipeError, exit 2).

Dependencies: a recipe waits for the recipe its `source.recipe` names (which must be in the pipeline,
so that it builds on the image this run bakes) and for those its `after` lists. Cycles are errors.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from goldsmith.errors import InputError, Problem, RecipeError
from goldsmith.recipe.checks import source_recipe_path
from goldsmith.recipe.hints import did_you_mean
from goldsmith.recipe.loader import LoadedRecipe, find_root, load_recipe, parse_recipe
from goldsmith.recipe.model import Image
from goldsmith.recipe.pipeline_model import Pipeline, PipelineRecipe
from goldsmith.recipe.problems import problems_from
from goldsmith.recipe.publishing import publishing_problems
from goldsmith.recipe.variables import declared_variables
from goldsmith.recipe.yaml_source import YamlDocument, read_mapping

_NO_VARS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class Member:
    """A recipe of the pipeline: loaded with its overrides, and the recipes it waits for."""

    name: str
    loaded: LoadedRecipe
    needs: tuple[str, ...]  # recipes of this pipeline it waits for (source first, then `after`)
    source: str | None  # the pipeline recipe whose image it builds on, if any


@dataclass(frozen=True)
class LoadedPipeline:
    pipeline: Pipeline
    path: Path
    root: Path
    members: dict[str, Member]  # in a dependency order: every recipe after those it needs

    @property
    def names(self) -> list[str]:
        return list(self.members)

    def dependents(self, name: str) -> set[str]:
        """Every recipe that waits for `name`, directly or through others."""
        found: set[str] = set()
        pending = [name]
        while pending:
            current = pending.pop()
            for member in self.members.values():
                if current in member.needs and member.name not in found:
                    found.add(member.name)
                    pending.append(member.name)
        return found


def load_pipeline(path: Path, cli_vars: Mapping[str, str] = _NO_VARS,
                  environ: Mapping[str, str] = os.environ) -> LoadedPipeline:
    """Load and check a pipeline and its recipes; raises RecipeError listing every problem found."""
    path = Path(path)
    label = str(path)
    document, problems = read_mapping(path, label, "pipeline", "name, recipes, ...")
    pipeline: Pipeline | None = None
    try:
        pipeline = Pipeline.model_validate(document.data)
        entries: list[PipelineRecipe | None] = list(pipeline.recipes)
    except ValidationError as exc:
        problems.extend(problems_from(exc, document, Pipeline))
        entries = _valid_entries(document.data.get("recipes"))  # their recipes' mistakes are shown too
    shared = pipeline.variables if pipeline is not None else _valid_variables(document.data.get("variables"))
    root = find_root(path)
    members: dict[str, tuple[int, LoadedRecipe]] = {}
    used_vars: set[str] = set()
    for index, entry in enumerate(entries):
        if entry is None:
            continue
        loaded = _load_member(document, index, entry, shared, root, cli_vars, environ, problems, used_vars)
        if loaded is None:
            continue
        name = loaded.recipe.name
        if name in members:
            other = members[name][0]
            problems.append(document.problem(("recipes", index, "recipe"), f"recipe '{name}' is already in this "
                                             f"pipeline (recipes[{other}]); a recipe may appear once"))
            continue
        members[name] = (index, loaded)
    for name in cli_vars:
        if name not in used_vars and members:
            problems.append(Problem("--var", 0, 0, name, "no recipe of the pipeline declares this variable"))
    if pipeline is None or problems:  # the graph needs every recipe
        raise RecipeError(problems)
    for name, (index, loaded) in members.items():
        if pipeline.channels and not loaded.recipe.validate_.suites:
            problems.append(document.problem(("channels",), f"recipe '{name}' (recipes[{index}]) has no "
                                             "validate.suites: a channel must only ever name a validated image"))
    graph = _graph(document, pipeline, members, problems)
    if problems:
        raise RecipeError(problems)
    order = _order(graph, document, members, problems)
    if problems:
        raise RecipeError(problems)
    loaded_members = {}
    for name in order:
        index, loaded = members[name]
        source = None if loaded.recipe.source.channel else loaded.recipe.source.recipe
        loaded_members[name] = Member(name, loaded, graph[name], source)
    return LoadedPipeline(pipeline, path, root, loaded_members)


def _valid_entries(raw: Any) -> list[PipelineRecipe | None]:
    """Each `recipes` entry as a model where it is valid on its own, else None (already reported)."""
    if not isinstance(raw, list):
        return []
    entries: list[PipelineRecipe | None] = []
    for item in raw:
        try:
            entries.append(PipelineRecipe.model_validate(item))
        except ValidationError:
            entries.append(None)
    return entries


def _valid_variables(raw: Any) -> dict[str, str]:
    try:
        return Pipeline.model_validate({"name": "x", "recipes": [{"recipe": "x"}], "variables": raw}).variables
    except ValidationError:
        return {}


def _recipe_path(root: Path, reference: str) -> Path:
    """A `recipe:` entry: a name as source.recipe resolves it, else a path relative to the project root."""
    if "/" in reference or reference.endswith((".yaml", ".yml")):
        path = root / reference
        if not path.is_file():
            raise InputError(f"no recipe file {reference} under {root}")
        return path
    return source_recipe_path(root, reference)


def _load_member(document: YamlDocument, index: int, entry: PipelineRecipe, shared: Mapping[str, str], root: Path,
                 cli_vars: Mapping[str, str], environ: Mapping[str, str], problems: list[Problem],
                 used_vars: set[str]) -> LoadedRecipe | None:
    """One recipe with the pipeline's values and overrides, or None (its problems added)."""
    where = ("recipes", index)
    try:
        recipe_path = _recipe_path(root, entry.recipe)
    except InputError as exc:
        problems.append(document.problem((*where, "recipe"), str(exc)))
        return None
    try:
        parsed = parse_recipe(recipe_path)
    except RecipeError as exc:
        problems.extend(exc.problems)
        return None
    declared = set(declared_variables(parsed[0].data))
    for name in entry.variables:
        if name not in declared:
            hint = did_you_mean(name, declared) or (f" (declared: {', '.join(sorted(declared))})" if declared else "")
            problems.append(document.problem((*where, "variables", name),
                                             f"recipe {entry.recipe} declares no variable '{name}'{hint}", key=True))
    values = {k: v for k, v in shared.items() if k in declared}
    values.update({k: v for k, v in entry.variables.items() if k in declared})
    values.update({k: v for k, v in cli_vars.items() if k in declared})
    used_vars.update(k for k in cli_vars if k in declared)
    try:
        loaded = load_recipe(recipe_path, values, environ, parsed)
    except RecipeError as exc:
        problems.extend(exc.problems)
        return None
    return _with_overrides(document, index, entry, loaded, problems)


def _with_overrides(document: YamlDocument, index: int, entry: PipelineRecipe, loaded: LoadedRecipe,
                    problems: list[Problem]) -> LoadedRecipe | None:
    """The recipe with the entry's regions/accounts in its image, checked by the image's own rules."""
    if entry.regions is None and entry.accounts is None:
        return loaded
    data: dict[str, Any] = loaded.recipe.image.model_dump(by_alias=True)
    if entry.regions is not None:
        data["regions"] = entry.regions
    if entry.accounts is not None:
        data["share"] = {**data["share"], "accounts": entry.accounts}
    field = "regions" if entry.regions is not None else "accounts"
    try:
        image = Image.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            problems.append(document.problem(("recipes", index, field), f"with this override, the recipe's image "
                                             f"is invalid: {error['msg'].removeprefix('Value error, ')}"))
        return None
    for broken in publishing_problems(image, datetime.now(UTC)):
        problems.append(document.problem(("recipes", index, field),
                                         f"with this override, image.{'.'.join(map(str, broken.path))}: "
                                         f"{broken.message}"))
    recipe = loaded.recipe.model_copy(update={"image": image})
    return replace(loaded, recipe=recipe)


def _graph(document: YamlDocument, pipeline: Pipeline, members: dict[str, tuple[int, LoadedRecipe]],
           problems: list[Problem]) -> dict[str, tuple[str, ...]]:
    """What each recipe waits for; unknown names and sources outside the pipeline are problems."""
    graph: dict[str, tuple[str, ...]] = {}
    for name, (index, loaded) in members.items():
        needs: list[str] = []
        source = loaded.recipe.source.recipe
        if loaded.recipe.source.channel:
            source = None  # it builds on what the channel names, not on this run's image: no dependency
        if source is not None:
            if source in members:
                needs.append(source)
            else:
                problems.append(document.problem(
                    ("recipes", index, "recipe"),
                    f"recipe '{name}' builds on recipe '{source}' (its source.recipe), which is not in this "
                    f"pipeline: add `- recipe: {source}` so this run bakes it first"))
        entry = pipeline.recipes[index]
        for position, other in enumerate(entry.after):
            if other not in members:
                problems.append(document.problem(("recipes", index, "after", position),
                                                 f"no recipe '{other}' in this pipeline"
                                                 f"{did_you_mean(other, members)}"))
            elif other == name:
                problems.append(document.problem(("recipes", index, "after", position),
                                                 f"recipe '{name}' cannot wait for itself"))
            elif other not in needs:
                needs.append(other)
        graph[name] = tuple(needs)
    return graph


def _order(graph: dict[str, tuple[str, ...]], document: YamlDocument, members: dict[str, tuple[int, LoadedRecipe]],
           problems: list[Problem]) -> list[str]:
    """The recipes in a dependency order (file order where free); a cycle is a problem naming it."""
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = [*trail[trail.index(name):], name]
            index = members[name][0]
            problems.append(document.problem(("recipes", index, "recipe"),
                                             f"dependency cycle: {' -> '.join(cycle)} (each waits for the "
                                             "next, through source.recipe or after); break it"))
            return
        state[name] = "visiting"
        for other in graph[name]:
            visit(other, [*trail, name])
            if problems:
                return
        state[name] = "done"
        order.append(name)

    for name in graph:
        visit(name, [])
        if problems:
            break
    return order
