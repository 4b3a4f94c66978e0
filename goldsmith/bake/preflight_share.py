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

from datetime import UTC, datetime
from typing import TYPE_CHECKING

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
            kms.check_consumers(client, info, accounts=share.accounts, organizations=share.organizations,
                                ous=share.ous, field=field)
        except PreflightError as exc:
            problems.append(str(exc))
            continue
        state.kms_keys[region] = info.arn
    if problems:
        raise PreflightError("\n".join(problems))
