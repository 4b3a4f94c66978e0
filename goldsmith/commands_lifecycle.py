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


def images(settings: Settings, recipe: str | None, *, regions: Sequence[str], as_json: bool,
           enable: str | None = None) -> str:
    """The inventory of the recipe's (or every recipe's) builds, a table or JSON; or --enable a disabled AMI."""
    import json

    from goldsmith.aws.account import enabled_regions
    from goldsmith.images.channels import check_prefix
    from goldsmith.images.inventory import as_json as rows_json
    from goldsmith.images.inventory import rows, table

    explicit = check_regions(regions)
    prefix = check_prefix(settings.channel_prefix)
    if enable is not None:
        return _enable(settings, enable, explicit)
    ref = recipe_ref(recipe) if recipe else None
    aws = connect(settings)
    found = rows(aws, explicit or enabled_regions(aws), ref.name if ref else None, prefix)
    if as_json:
        return json.dumps(rows_json(found), indent=2)
    return table(found) if found else f"no AMI of {f'recipe {ref.name}' if ref else 'any recipe'} found"


def _enable(settings: Settings, image_id: str, regions: list[str]) -> str:
    from goldsmith.aws.calls import aws_call
    from goldsmith.commands import _check_ami_id

    _check_ami_id(image_id)
    if len(regions) > 1:
        raise InputError("images --enable: give at most one --region (the AMI's)")
    aws = connect(settings)
    region = regions[0] if regions else aws.region
    with aws_call("EnableImage", image_id):
        aws.ec2(region).enable_image(ImageId=image_id)
    return f"{image_id} ({region}) enabled"


@dataclass(frozen=True)
class PruneRequest:
    """`invoke prune`'s arguments, after parsing."""

    recipe: str | None
    keep: int | None
    older_than: int | None = None
    disable: bool = False
    deregister: bool = False
    yes: bool = False
    regions: tuple[str, ...] = ()
    channel_history: int = 1
    launched_within: int = 0


def prune(settings: Settings, request: PruneRequest, *, report: Callable[[str], None]) -> int:
    """Print the plan (keep or retire each build, and why); with yes, retire; returns how many are retired."""
    from datetime import UTC, datetime

    from goldsmith.aws.account import enabled_regions
    from goldsmith.errors import CleanupError
    from goldsmith.images.builds import find_builds
    from goldsmith.images.channels import check_prefix
    from goldsmith.images.retention import Action, Rules, decide, in_use, plan_lines, retire

    if request.keep is None:
        raise InputError("prune: say how many of the newest builds to keep (--keep N)")
    if request.keep < 1:
        raise InputError(f"prune --keep {request.keep}: keep at least the newest build (--keep 1); retiring every "
                         "build of a recipe is `invoke prune --keep 1` plus deregistering that one by hand")
    for flag, value in (("--older-than", request.older_than), ("--channel-history", request.channel_history),
                        ("--launched-within", request.launched_within)):
        if value is not None and value < 0:
            raise InputError(f"prune {flag} {value}: give 0 or more days")
    if request.channel_history < 1:
        raise InputError("prune --channel-history: give at least 1 (a channel's current value)")
    if request.disable and request.deregister:
        raise InputError("prune: --disable and --deregister exclude each other")
    action: Action = "deregister" if request.deregister else "disable"
    explicit = check_regions(request.regions)
    prefix = check_prefix(settings.channel_prefix)
    ref = recipe_ref(request.recipe) if request.recipe else None
    aws = connect(settings)
    regions = explicit or enabled_regions(aws)
    builds = find_builds(aws, regions, ref.name if ref else None)
    if ref is not None and not builds:
        raise InputError(f"recipe '{ref.name}' has no AMI in {', '.join(regions)}: check the name")
    rules = Rules(keep=request.keep, older_than_days=request.older_than or 0,
                  channel_history=request.channel_history, launched_within_days=request.launched_within)
    decisions = decide(builds, in_use(aws, regions, builds, prefix, rules), rules, datetime.now(UTC))
    for line in plan_lines(decisions, action):
        report(line)
    retired = sum(d.retire for d in decisions)
    if not request.yes:
        report(f"{retired} builds would be retired ({action}); run again with --yes to do it")
        return retired
    failures = retire(aws, decisions, action, report)
    if failures:
        raise CleanupError("could not retire, do it by hand:\n  " + "\n  ".join(failures))
    return retired
