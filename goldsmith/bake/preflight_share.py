"""Preflight for sharing, encryption, regions and deprecation: every check before anything is launched.

How snapshots become encrypted: the build instance's volumes are created encrypted with the recipe's
key (RunInstances BlockDeviceMappings Encrypted + KmsKeyId, see bake/mappings.py), so the snapshots
of those volumes, and the AMI registered from them, are encrypted from the first byte. The other
choice, plain snapshots copied with encryption before registering, leaves an unencrypted copy of the
image on disk for a while, stores it twice, adds a copy wait to every bake and one more thing to clean
up. Launch-time encryption costs nothing extra; region copies are then re-encrypted by CopyImage with
each region's key.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from goldsmith.aws import images, kms
from goldsmith.errors import PreflightError

if TYPE_CHECKING:
    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.state import BuildState
    from goldsmith.recipe.model import Image


def deprecation_time(image: Image, now: datetime) -> datetime | None:
    """When the image is to be deprecated: deprecate_at, or now + deprecate_after days, or never."""
    if image.deprecate_at is not None:
        when = image.deprecate_at
        return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    if image.deprecate_after is not None:
        return now.astimezone(UTC) + timedelta(days=image.deprecate_after)
    return None


def target_regions(image: Image, build_region: str) -> list[str]:
    """The build region first, then each other region of image.regions once."""
    regions = [build_region]
    for region in image.regions:
        if region not in regions:
            regions.append(region)
    return regions


def region_keys(image: Image, build_region: str) -> dict[str, str]:
    """The key for each region's snapshots; a copy region without its own key is an error."""
    if image.encrypt is None:
        return {}
    keys = {build_region: image.encrypt.kms_key}
    missing = []
    for region in target_regions(image, build_region)[1:]:
        if region in image.encrypt.regions:
            keys[region] = image.encrypt.regions[region]
        else:
            missing.append(region)
    if missing:
        raise PreflightError(
            f"image.encrypt.regions: no KMS key for {', '.join(missing)}: a copy is encrypted with a key of "
            f"its own region, so add e.g. `{missing[0]}: alias/your-key` under image.encrypt.regions."
        )
    return keys


def check_static(image: Image, now: datetime) -> None:
    """What needs no AWS call: public + encrypted, deprecation in the past."""
    if image.share.public and image.encrypt is not None:
        raise PreflightError("image.share.public: an encrypted AMI cannot be made public; drop one of the two.")
    when = deprecation_time(image, now)
    if when is not None and when <= now:
        raise PreflightError(f"image.deprecate_at: {when:%Y-%m-%d %H:%M} UTC is in the past; give a future moment.")


def check_publishing(state: BuildState, ctx: BakeContext) -> None:
    """Sharing, public access, keys of every region: raise one PreflightError listing every problem."""
    image = ctx.loaded.recipe.image
    check_static(image, datetime.now(UTC))
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
