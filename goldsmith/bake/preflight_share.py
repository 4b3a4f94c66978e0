"""Preflight for sharing, encryption, regions and deprecation: every check before anything is launched.

The rules that need no AWS call live in goldsmith.recipe.publishing, so `invoke check` reports them
located; check_static runs them again here (for models built in code, and with the build region, which
the recipe does not know). What is left needs AWS: the keys exist, are usable and shared, and the account
does not block public images.

How snapshots become encrypted: the build instance's volumes are created encrypted with the recipe's
key (RunInstances BlockDeviceMappings Encrypted + KmsKeyId, see bake/mappings.py), so the snapshots
of those volumes, and the AMI registered from them, are encrypted from the first byte. The other
choice, plain snapshots copied with encryption before registering, leaves an unencrypted copy of the
image on disk for a while, stores it twice, adds a copy wait to every bake and one more thing to clean
up. Launch-time encryption costs nothing extra; region copies are then re-encrypted by CopyImage with
each region's key.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from goldsmith.aws import ec2 as ec2ops
from goldsmith.aws import images, kms
from goldsmith.errors import PreflightError
from goldsmith.recipe.publishing import (
    deprecation_time,
    missing_keys_message,
    missing_region_keys,
    publishing_problems,
    target_regions,
)
from goldsmith.recipe.yaml_source import field_name

if TYPE_CHECKING:
    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.state import BuildState
    from goldsmith.recipe.model import Image

# deprecation_time and target_regions live with the recipe's rules; imported from here by the bake's steps.
__all__ = ["check_publishing", "check_static", "deprecation_time", "region_keys", "target_regions"]


def _account(ctx: BakeContext) -> Callable[[], str]:
    """This identity's account, asked (GetCallerIdentity) only when a key's owner must be compared with it."""
    return lambda: ctx.aws.identity().account


def region_keys(image: Image, build_region: str) -> dict[str, str]:
    """The key for each region's snapshots; a copy region without its own key is an error."""
    if image.encrypt is None:
        return {}
    missing = missing_region_keys(image, build_region)
    if missing:
        raise PreflightError(f"image.encrypt.regions: {missing_keys_message(missing)}")
    keys = {build_region: image.encrypt.kms_key}
    keys.update({region: image.encrypt.regions[region] for region in target_regions(image, build_region)[1:]})
    return keys


def check_static(image: Image, now: datetime, build_region: str | None = None) -> None:
    """The rules that need no AWS call (goldsmith.recipe.publishing), for a model that may not come from
    load_recipe: raise one PreflightError listing every broken rule."""
    problems = publishing_problems(image, now, build_region)
    if problems:
        raise PreflightError("\n".join(f"{field_name(('image', *p.path))}: {p.message}" for p in problems))


def check_publishing(state: BuildState, ctx: BakeContext) -> None:
    """Sharing, public access, keys of every region: raise one PreflightError listing every problem."""
    image = ctx.loaded.recipe.image
    check_static(image, datetime.now(UTC), state.region)
    share = image.share
    problems: list[str] = []
    if share.public:
        for region in target_regions(image, state.region):
            blocked = images.public_sharing_blocked(ctx.aws.ec2(region))
            if blocked:
                problems.append(f"image.share.public: this account blocks public AMI sharing in {region} (image "
                                "block public access); turn it off there or drop share.public.")
            elif blocked is None:
                ctx.events.warn(f"could not read the image block public access state of {region}")
    for region, key in region_keys(image, state.region).items():
        field = "image.encrypt.kms_key" if region == state.region else f"image.encrypt.regions.{region}"
        client = ctx.aws.kms(region)
        try:
            info = kms.describe_key(client, key, region, field=field)
            warnings = kms.check_consumers(client, info, accounts=share.accounts, organizations=share.organizations,
                                           ous=share.ous, field=field, caller_account=_account(ctx))
        except PreflightError as exc:
            problems.append(str(exc))
            continue
        for warning in warnings:
            ctx.events.warn(warning)
        state.kms_keys[region] = info.arn
    if image.encrypt is None:
        problems += _implicit_encryption(state, ctx)
    if problems:
        raise PreflightError("\n".join(problems))


def implicit_keys(state: BuildState, ctx: BakeContext) -> dict[str, list[str]]:
    """Per region, the keys the image's snapshots get although the recipe asks for no encryption: in the
    build region the source snapshots' keys (the build volumes keep them) and, where the account turned
    EBS encryption by default on, the region's default key; a copy of an encrypted image is re-encrypted
    with its region's default key."""
    source = state.source_image
    build_keys = sorted(images.image_keys(ctx.aws.ec2(state.region), source)) if source else []
    keys: dict[str, list[str]] = {}
    for region in target_regions(ctx.loaded.recipe.image, state.region):
        ec2 = ctx.aws.ec2(region)
        default = ec2ops.encryption_by_default_key(ec2)
        if region == state.region:
            found = [*build_keys, *([default] if default and default not in build_keys else [])]
        else:
            if default is None and keys.get(state.region):
                default = ec2ops.default_ebs_key(ec2)
            found = [default] if default else []
        if found:
            keys[region] = found
    return keys


def _implicit_encryption(state: BuildState, ctx: BakeContext) -> list[str]:
    """EBS encryption by default (or an encrypted source) encrypts the image with keys the recipe did not
    name: the same checks as for image.encrypt (no public image; consumers may use every key)."""
    share = ctx.loaded.recipe.image.share
    problems: list[str] = []
    for region, keys in implicit_keys(state, ctx).items():
        why = f"{region}: the image will be encrypted (EBS encryption by default, or an encrypted source)"
        if share.public:
            problems.append(f"image.share.public: {why}, and encrypted AMIs cannot be public; drop share.public "
                            "or bake in a region without encryption by default.")
            continue
        client = ctx.aws.kms(region)
        for key in keys:
            field = f"{why} with KMS key {key}"
            try:
                info = kms.describe_key(client, key, region, field=field)
                warnings = kms.check_consumers(client, info, accounts=share.accounts,
                                               organizations=share.organizations, ous=share.ous, field=field,
                                               caller_account=_account(ctx))
            except PreflightError as exc:
                problems.append(f"{exc} Or set image.encrypt.kms_key (and image.encrypt.regions) to keys they may use.")
                continue
            for warning in warnings:
                ctx.events.warn(warning)
            state.kms_keys.setdefault(region, info.arn)
    return problems
