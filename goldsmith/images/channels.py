"""Channels: `/goldsmith/<recipe>/<channel>` SSM parameters (aws:ec2:image) naming the AMI to deploy, per region.

promote points a channel at a build in every region that has a copy of it; rollback points it back at the
previous value (from the parameter's own history) or a named build. Both are all regions or none: every
image is checked before the first write, and a write that fails part-way puts the regions already changed
back as they were. Launch templates, CloudFormation and Terraform read a channel with `resolve:ssm:`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from goldsmith.aws import parameters
from goldsmith.aws.calls import aws_call
from goldsmith.aws.tags import RECIPE_TAG
from goldsmith.errors import AwsError, GoldsmithError, InputError
from goldsmith.images.builds import Build, find_builds, pick_build
from goldsmith.recipe import formats

if TYPE_CHECKING:
    from goldsmith.aws.session import Aws

DEFAULT_PREFIX = "/goldsmith"
CHANNEL_TAG = "goldsmith:channel"
PUT_BACK = "put back after a failed change"  # the description of a write that undid a failed one


@dataclass(frozen=True)
class Where:
    """Where a recipe's channel lives: the parameter prefix and how long to wait for SSM to show a write."""

    prefix: str = DEFAULT_PREFIX
    timeout: float = 60.0  # AWS validates aws:ec2:image asynchronously, usually within seconds
    delay: float = 1.0


def parameter_name(prefix: str, recipe: str, channel: str) -> str:
    return f"{prefix.rstrip('/')}/{recipe}/{channel}"


def check_channel(channel: str) -> str:
    if not formats.CHANNEL_RE.fullmatch(channel):
        raise InputError(f"channel {channel!r}: use 1-64 letters, digits, '.', '-' or '_' (like stable, candidate)")
    return channel


def check_prefix(prefix: str) -> str:
    if not re.fullmatch(r"(/[A-Za-z0-9_.-]+)+", prefix) or prefix.lower().startswith(("/aws", "/ssm")):
        raise InputError(f"channel prefix {prefix!r}: a path like /goldsmith (not under /aws or /ssm)")
    return prefix


def resolve(aws: Aws, region: str, recipe: str, channel: str, where: Where) -> str:
    """The AMI id the channel names in the region; InputError when it has none there."""
    name = parameter_name(where.prefix, recipe, channel)
    found = parameters.current(aws.ssm(region), name)
    if found is None:
        raise InputError(f"channel '{channel}' of recipe '{recipe}' ({name}) has no value in {region}: promote an "
                         f"image first (invoke promote {recipe} VERSION --channel {channel})")
    return found.value


def image_problem(aws: Aws, region: str, image_id: str) -> str:
    """Why the AMI cannot be a channel's value in the region ('' if it can): gone, disabled, not available."""
    try:
        with aws_call("DescribeImages", image_id):
            found = aws.ec2(region).describe_images(ImageIds=[image_id], IncludeDisabled=True)["Images"]
    except AwsError as exc:
        if exc.code in ("InvalidAMIID.NotFound", "InvalidAMIID.Unavailable", "InvalidAMIID.Malformed"):
            found = []
        else:
            raise
    if not found:
        return f"{image_id} ({region}) has been deregistered"
    state = found[0].get("State", "")
    if state == "disabled":
        return f"{image_id} ({region}) is disabled (`invoke images --enable {image_id}` turns it back on)"
    if state != "available":
        return f"{image_id} ({region}) is {state or 'in an unknown state'}, not available"
    return ""


def promotable(build: Build, recipe: str) -> str:
    """Why this build may not be promoted ('' if it may): validation not passed, an image not available."""
    if build.recipe != recipe:
        return f"build {build.build_id} was baked from recipe '{build.recipe}', not '{recipe}'"
    if build.validation != "passed":
        return (f"build {build.build_id} ({build.version}) did not pass validation (goldsmith:validation is "
                f"{build.validation}); only validated images are promoted")
    for region, image in sorted(build.images.items()):
        if image.get("State") != "available":
            return f"{image['ImageId']} ({region}) is {image.get('State', 'unknown')}, not available"
    return ""


@dataclass(frozen=True)
class Change:
    """A channel moved in one region."""

    region: str
    image_id: str
    previous: str  # '' when the channel was new there
    version: int


def promote(aws: Aws, *, recipe: str, reference: str, channel: str, regions: list[str], where: Where,
            only_regions: list[str], report: Callable[[str], None]) -> list[Change]:
    """Point the channel at the build `reference` names (AMI id or version) in every region of `regions` with a
    copy of it; with `only_regions` (--region given), in exactly those, each of which must have a copy."""
    check_channel(channel)
    searched = list(dict.fromkeys([*regions, *only_regions]))
    everything = find_builds(aws, searched, None if reference.startswith("ami-") else recipe)
    build = pick_build(everything, recipe, reference, searched)
    problem = promotable(build, recipe)
    if problem:
        raise InputError(f"cannot promote to {channel}: {problem}")
    missing = [r for r in only_regions if r not in build.images]
    if missing:
        raise InputError(f"build {build.build_id} has no copy in {', '.join(missing)}; promote it where it has "
                         f"one ({', '.join(sorted(build.images))})")
    wanted = only_regions or regions
    targets = {r: i["ImageId"] for r, i in sorted(build.images.items()) if r in wanted}
    return set_all(aws, recipe=recipe, channel=channel, targets=targets, where=where,
                   note=f"{recipe} {build.version} (build {build.build_id})", report=report)


def promote_images(aws: Aws, *, recipe: str, channel: str, images: dict[str, str], note: str, where: Where,
                   report: Callable[[str], None],
                   before: Mapping[str, parameters.Version | None] | None = None) -> list[Change]:
    """Point the channel at these AMIs (region -> AMI id): a bake's own images, just validated. `before`
    (region -> the channel's value there) when the caller read it already (`read_channels`)."""
    return set_all(aws, recipe=recipe, channel=channel, targets=images, where=where, note=note, report=report,
                   before=before)


def read_channels(aws: Aws, where: Where, channel: str, recipes: Mapping[str, list[str]]
                  ) -> dict[str, dict[str, parameters.Version | None]]:
    """The channel's value for many recipes (recipe -> its regions), read with GetParameters: one request per
    region for up to ten recipes. Returns recipe -> region -> value (None: the channel is new there)."""
    check_channel(channel)
    names = {recipe: parameter_name(where.prefix, recipe, channel) for recipe in recipes}
    regions = sorted({r for wanted in recipes.values() for r in wanted})
    by_region = {region: parameters.current_many(aws.ssm(region),
                                                 [names[recipe] for recipe, wanted in recipes.items()
                                                  if region in wanted])
                 for region in regions}
    return {recipe: {region: by_region[region][names[recipe]] for region in wanted}
            for recipe, wanted in recipes.items()}


def previous_value(versions: list[parameters.Version]) -> str:
    """The value the channel had before its current one ('' if none). Consecutive repeats count once, and a
    write undone by a put-back (its description says so) never happened: a failed promote is no step back."""
    values: list[str] = []
    for v in versions:
        if v.description.startswith(PUT_BACK) and values:
            values.pop()
        if not values or values[-1] != v.value:
            values.append(v.value)
    return values[-2] if len(values) >= 2 else ""


def rollback(aws: Aws, *, recipe: str, channel: str, to: str | None, regions: list[str], where: Where,
             report: Callable[[str], None]) -> list[Change]:
    """Point the channel back at its previous value (or at the build `to` names) in every region where it
    exists; refused with the reason, nothing changed, if any target image is gone or disabled."""
    check_channel(channel)
    name = parameter_name(where.prefix, recipe, channel)
    histories = {r: parameters.history(aws.ssm(r), name) for r in regions}
    histories = {r: h for r, h in histories.items() if h}
    if not histories:
        raise InputError(f"recipe '{recipe}' has no channel '{channel}' ({name}) in {', '.join(regions)}")
    if to is not None:
        searched = list(histories)
        build = pick_build(find_builds(aws, searched, None if to.startswith("ami-") else recipe), recipe, to, searched)
        lacking = [r for r in histories if r not in build.images]
        if lacking:
            raise InputError(f"cannot roll {channel} back to build {build.build_id}: it has no copy in "
                             f"{', '.join(lacking)}, where the channel exists")
        targets = {r: build.images[r]["ImageId"] for r in histories}
        note = f"{recipe} {build.version} (build {build.build_id}), rolled back"
    else:
        targets = {r: previous_value(h) for r, h in histories.items()}
        first = [r for r, image in targets.items() if not image]
        if first:
            raise InputError(f"cannot roll {channel} back: it has had only one value in {', '.join(first)}")
        note = "rolled back"
    problems = [p for r, image in targets.items() if (p := image_problem(aws, r, image))]
    if problems:
        raise InputError(f"cannot roll {channel} back: " + "; ".join(problems) + "; nothing was changed")
    return set_all(aws, recipe=recipe, channel=channel, targets=targets, where=where, note=note, report=report)


def set_all(aws: Aws, *, recipe: str, channel: str, targets: dict[str, str], where: Where, note: str,
            report: Callable[[str], None],
            before: Mapping[str, parameters.Version | None] | None = None) -> list[Change]:
    """Write the channel in every region, or in none: a failure (or Ctrl-C) puts back the regions done.
    `before`: the values read just now by the caller (else each region's is read here)."""
    name = parameter_name(where.prefix, recipe, channel)
    if before is None or any(r not in before for r in targets):
        before = {r: parameters.current(aws.ssm(r), name) for r in targets}
    changes: list[Change] = []
    try:
        for region, image_id in targets.items():
            old = before[region]
            if old is not None and old.value == image_id:
                report(f"{name} ({region}) already {image_id}")
                continue
            version = parameters.put_image(aws.ssm(region), name, image_id, description=note,
                                           tags={RECIPE_TAG: recipe, CHANNEL_TAG: channel}, exists=old is not None,
                                           timeout=where.timeout, delay=where.delay)
            changes.append(Change(region, image_id, old.value if old else "", version))
            report(f"{name} ({region}): {old.value if old else '(new)'} -> {image_id} (version {version})")
    except BaseException as exc:
        undone, failed = _put_back(aws, name, changes, before, where)
        detail = f"; put back {', '.join(undone)}" if undone else ""
        if failed:
            detail += "; could not put back, fix by hand: " + "; ".join(failed)
        if isinstance(exc, GoldsmithError):
            raise AwsError(f"{channel} of {recipe} not changed anywhere: {exc}{detail}", code=getattr(exc, "code", ""),
                           operation=getattr(exc, "operation", "")) from exc
        exc.add_note(f"{channel} of {recipe}{detail}")
        raise
    return changes


def _put_back(aws: Aws, name: str, changes: list[Change], before: Mapping[str, parameters.Version | None],
              where: Where) -> tuple[list[str], list[str]]:
    """Undo the writes in reverse order: the old value again, or delete a parameter that was new."""
    undone: list[str] = []
    failed: list[str] = []
    for change in reversed(changes):
        old = before[change.region]
        try:
            if old is None:
                parameters.delete(aws.ssm(change.region), name)
            else:
                parameters.put_image(aws.ssm(change.region), name, old.value, description=PUT_BACK, tags={},
                                     exists=True, timeout=where.timeout, delay=where.delay)
            undone.append(change.region)
        except GoldsmithError as exc:
            failed.append(f"{name} in {change.region} should be {old.value if old else '(deleted)'}: {exc}")
    return undone, failed
