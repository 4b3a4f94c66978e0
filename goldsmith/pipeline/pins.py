"""`invoke pipeline --use NAME=AMI`: an upstream recipe is already baked; build on that image instead.

Why: a recipe's bake can run somewhere else than its upstream's (a CI job per recipe, see
goldsmith.pipeline.export), or a teammate already baked the base. Pinning marks the recipe as reused with
the given image, so the recipes built on it start at once, on exactly that AMI (the same path a resumed run
takes), and what only the pinned recipe needed is not baked: `--only web --use hardened=ami-...` bakes web
alone. The pinned image is checked by the bake that builds on it (resolve-source describes it).

Applied to the record new_record made, so the run, `--plan` and `--resume` see the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from goldsmith.errors import InputError
from goldsmith.pipeline.record import RecipeRun, RunRecord
from goldsmith.pipeline.run import ONLY, selection
from goldsmith.recipe import formats
from goldsmith.recipe.hints import did_you_mean
from goldsmith.recipe.pipeline_loader import LoadedPipeline


def parse_uses(args: Iterable[str], loaded: LoadedPipeline, only: tuple[str, ...] = ()) -> dict[str, str]:
    """["NAME=ami-...", ...] -> {name: AMI id}, every argument checked (bad input, exit 2; no AWS call)."""
    pins: dict[str, str] = {}
    for arg in args:
        name, sep, image_id = (part.strip() for part in arg.partition("="))
        if not sep or not name or not image_id:
            raise InputError(f"--use {arg!r}: give RECIPE=AMI, for example --use base=ami-0123456789abcdef0")
        if name not in loaded.members:
            raise InputError(f"--use {arg}: no recipe '{name}' in pipeline {loaded.path}"
                             f"{did_you_mean(name, loaded.members)} (recipes: {', '.join(loaded.members)})")
        if not formats.AMI_ID_RE.fullmatch(image_id):
            raise InputError(f"--use {arg}: {image_id!r} is not an AMI id (like ami-0123456789abcdef0)")
        if name in only:
            raise InputError(f"--use {arg} and --only {name}: a recipe is either baked or given, not both")
        if pins.get(name, image_id) != image_id:
            raise InputError(f"--use {name}: given twice, as {pins[name]} and {image_id}")
        pins[name] = image_id
    return pins


def pinned_selection(loaded: LoadedPipeline, only: tuple[str, ...], pins: Mapping[str, str]) -> set[str]:
    """What --only selects when the walk to upstream recipes stops at pinned ones (they are not baked)."""
    selection(loaded, only)  # the same checks of --only names, the same messages
    chosen: set[str] = set()
    pending = list(only or loaded.members)
    while pending:
        current = pending.pop()
        if current in chosen:
            continue
        chosen.add(current)
        if current not in pins:
            pending.extend(loaded.members[current].needs)
    return chosen


def apply_pins(record: RunRecord, loaded: LoadedPipeline, only: tuple[str, ...], pins: Mapping[str, str],
               region: str) -> None:
    """Mark each pinned recipe reused with its image (`region`: the build region, where the bakes run), and
    leave out what only pinned recipes needed."""
    if not pins:
        return
    chosen = pinned_selection(loaded, only, pins)
    for name, run in record.recipes.items():
        if name in pins:
            record.recipes[name] = RecipeRun(name, status="reused", reason=f"given: --use {name}={pins[name]}",
                                             region=region, images={region: pins[name]})
        elif name not in chosen and run.status == "pending":
            run.status, run.reason = "skipped", ONLY
