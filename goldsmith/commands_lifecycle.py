"""What the lifecycle tasks do (promote, rollback, images, prune), as plain functions tests call directly.

Split from goldsmith.commands (same contract): every argument is checked before the first AWS call, and
bad input raises InputError (exit 2) with nothing changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from goldsmith.commands import Settings, load
from goldsmith.errors import InputError

if TYPE_CHECKING:
    from goldsmith.aws.session import Aws
    from goldsmith.images.channels import Where
    from goldsmith.recipe.loader import LoadedRecipe


@dataclass(frozen=True)
class RecipeRef:
    """A recipe named on the command line: its name, and its file when there is one (for its regions)."""

    name: str
    loaded: LoadedRecipe | None = None


def recipe_ref(name_or_path: str) -> RecipeRef:
    """A recipe file (its `name`), else a name: recipes/NAME.yaml when it exists, else the bare name (a recipe
    baked elsewhere is still known by its AMIs' goldsmith:recipe tag)."""
    from goldsmith.recipe import formats
    from goldsmith.recipe.loader import LoadedRecipe, source_recipe_path

    path = Path(name_or_path)
    if not (path.exists() or "/" in name_or_path or path.suffix in (".yaml", ".yml")):
        if not formats.RECIPE_NAME_RE.fullmatch(name_or_path):
            raise InputError(f"{name_or_path!r} is neither a recipe file nor a recipe name (like base, web-server)")
        try:
            path = source_recipe_path(Path.cwd(), name_or_path)
        except InputError:
            return RecipeRef(name_or_path)
    loaded = load(str(path), [])
    assert isinstance(loaded, LoadedRecipe)
    return RecipeRef(loaded.recipe.name, loaded)


def check_regions(regions: Sequence[str], flag: str = "--region") -> list[str]:
    """Known region names, once each; a typo is bad input (it must not reach AWS)."""
    from goldsmith.recipe.hints import did_you_mean
    from goldsmith.recipe.regions import REGIONS

    for region in regions:
        if region not in REGIONS:
            raise InputError(f"{flag}: unknown region {region!r}{did_you_mean(region, REGIONS)}")
    return list(dict.fromkeys(regions))


def connect(settings: Settings) -> Aws:
    from goldsmith.aws.session import Aws
    from goldsmith.targets import make_target

    target = make_target(settings.target, region=settings.region, profile=settings.profile,
                         sandbox_dir=settings.sandbox_dir)
    return Aws(target.aws_settings())


def recipe_regions(aws: Aws, ref: RecipeRef | None, explicit: list[str]) -> list[str]:
    """--region as given, else the current region and the recipe's image.regions (when its file is known)."""
    if explicit:
        return explicit
    extra = list(ref.loaded.recipe.image.regions) if ref and ref.loaded else []
    return list(dict.fromkeys([aws.region, *extra]))


def where(settings: Settings) -> Where:
    from goldsmith.images.channels import Where, check_prefix

    quick = settings.target == "sandbox"  # the sandbox validates at once; AWS takes seconds
    return Where(prefix=check_prefix(settings.channel_prefix), timeout=60.0, delay=0.1 if quick else 2.0)


def promote(settings: Settings, recipe: str, reference: str, *, channel: str, regions: Sequence[str],
            report: Callable[[str], None]) -> str:
    """Point RECIPE's channel at a build (AMI id or version) in every region that has a copy of it."""
    from goldsmith.images.channels import check_channel
    from goldsmith.images.channels import promote as run_promote

    check_channel(channel)
    explicit = check_regions(regions)
    options = where(settings)
    if not reference.startswith("ami-") and not reference.strip():
        raise InputError("promote: name the AMI (ami-...) or the version to promote")
    ref = recipe_ref(recipe)
    aws = connect(settings)
    changes = run_promote(aws, recipe=ref.name, reference=reference, channel=channel,
                          regions=recipe_regions(aws, ref, []), where=options, only_regions=explicit, report=report)
    moved = ", ".join(f"{c.region}:{c.image_id}" for c in changes) or "nothing to change"
    return f"{ref.name}/{channel}: {moved}"


def rollback(settings: Settings, recipe: str, *, channel: str, to: str | None, regions: Sequence[str],
             report: Callable[[str], None]) -> str:
    """Point RECIPE's channel back at its previous value (or --to VERSION_OR_AMI) in every region."""
    from goldsmith.images.channels import check_channel
    from goldsmith.images.channels import rollback as run_rollback

    check_channel(channel)
    explicit = check_regions(regions)
    options = where(settings)
    ref = recipe_ref(recipe)
    aws = connect(settings)
    changes = run_rollback(aws, recipe=ref.name, channel=channel, to=to, regions=recipe_regions(aws, ref, explicit),
                           where=options, report=report)
    moved = ", ".join(f"{c.region}:{c.previous} -> {c.image_id}" for c in changes) or "nothing to change"
    return f"{ref.name}/{channel} rolled back: {moved}"
