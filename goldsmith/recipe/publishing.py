"""Rules on how an image is published (sharing, encryption, copy regions, deprecation) that need no AWS call.

They hold between fields of a valid ``image`` section, so they run on the validated model: the loader
reports them located (file:line:column, so ``invoke check`` shows them with every other mistake), and
the bake's preflight (goldsmith/bake/preflight_share.py) runs them again through ``check_static`` for
models built in code, then does only what needs AWS (keys, block public access).

The build region is not part of a recipe (it comes from the target), so a rule that depends on it
uses it when it is known: given by the caller, or named by the ARN of ``encrypt.kms_key`` (a key
works in its own region only). Otherwise at most one region of ``image.regions`` may lack a key of
its own: it may be the build region, the others are copies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from goldsmith.recipe.model_image import MAX_DEPRECATE_DAYS, MAX_PUBLIC_DEPRECATE_DAYS, Image

FieldPath = tuple[str | int, ...]

_ARN_REGION = re.compile(r"arn:aws[a-z-]*:kms:([a-z0-9-]+):\d{12}:(key|alias)/")


@dataclass(frozen=True)
class ImageProblem:
    """A broken rule, at ``path`` below ``image`` (``("share", "public")``)."""

    path: FieldPath
    message: str


def key_region(key: str) -> str | None:
    """The region a KMS key ARN names; None for key ids and aliases (valid in whichever region is used)."""
    found = _ARN_REGION.match(key)
    return found.group(1) if found else None


def deprecation_time(image: Image, now: datetime) -> datetime | None:
    """When the image is to be deprecated: deprecate_at, or deprecate_after days from ``now`` (the bake
    passes the image's creation time, from which AWS counts a public image's 2 years) cut to the whole
    minute (EC2 rounds to the nearest minute, which could move it past AWS's limit), or never."""
    if image.deprecate_at is not None:
        when = image.deprecate_at
        return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    if image.deprecate_after is not None:
        start = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
        return (start + timedelta(days=image.deprecate_after)).replace(second=0, microsecond=0)
    return None


def max_deprecate_days(image: Image) -> int:
    """How far ahead AWS lets the image be deprecated, in days (EnableImageDeprecation: 10 years, 2 for a
    public AMI, counted here as 3650 and 730 days so that every year length fits)."""
    return MAX_PUBLIC_DEPRECATE_DAYS if image.share.public else MAX_DEPRECATE_DAYS


def target_regions(image: Image, build_region: str) -> list[str]:
    """The build region first, then each other region of image.regions once."""
    regions = [build_region]
    for region in image.regions:
        if region not in regions:
            regions.append(region)
    return regions


def missing_region_keys(image: Image, build_region: str) -> list[str]:
    """Copy regions of an encrypted image without a key of their own under encrypt.regions."""
    if image.encrypt is None:
        return []
    return [r for r in target_regions(image, build_region)[1:] if r not in image.encrypt.regions]


def missing_keys_message(missing: list[str], why: str = "") -> str:
    """What to say about copy regions without a key (``why``: how the build region is known)."""
    return (
        f"no KMS key for {', '.join(missing)}{why}: a copy is encrypted with a key of its own region, so add "
        f"e.g. `{missing[0]}: alias/your-key` under image.encrypt.regions."
    )


def publishing_problems(image: Image, now: datetime, build_region: str | None = None) -> list[ImageProblem]:
    """Every publishing rule the image breaks (empty if none); ``build_region`` when it is known."""
    problems: list[ImageProblem] = []
    if image.share.public and image.encrypt is not None:
        message = "an encrypted AMI cannot be made public; drop one of the two."
        problems.append(ImageProblem(("share", "public"), message))
    problems.extend(_deprecation_problems(image, now))
    if image.encrypt is not None:
        problems.extend(_key_problems(image, build_region))
    return problems


def _deprecation_problems(image: Image, now: datetime) -> list[ImageProblem]:
    """EnableImageDeprecation refuses a time in the past and one too far ahead; the bake deprecates last,
    after the copies and the sharing, so find out now."""
    limit = max_deprecate_days(image)
    why = (" for a public image (AWS allows 2 years from its creation)" if image.share.public
           else " (AWS allows 10 years)")
    if image.deprecate_after is not None and image.deprecate_after > limit:
        message = f"{image.deprecate_after} days is more than {limit}{why}; give at most {limit}."
        return [ImageProblem(("deprecate_after",), message)]
    when = deprecation_time(image, now) if image.deprecate_at is not None else None
    if when is None:
        return []
    if when <= now:
        return [ImageProblem(("deprecate_at",), f"{when:%Y-%m-%d %H:%M} UTC is in the past; give a future moment.")]
    if when > now + timedelta(days=limit):
        message = (f"{when:%Y-%m-%d %H:%M} UTC is more than {limit} days ahead{why}; give a moment before "
                   f"{now + timedelta(days=limit):%Y-%m-%d %H:%M} UTC.")
        return [ImageProblem(("deprecate_at",), message)]
    return []


def _key_problems(image: Image, build_region: str | None) -> list[ImageProblem]:
    assert image.encrypt is not None
    encrypt = image.encrypt
    problems: list[ImageProblem] = []
    for region, key in encrypt.regions.items():
        elsewhere = key_region(key)
        if elsewhere is not None and elsewhere != region:
            message = f"KMS key {key} is in {elsewhere}, but it must be in {region} (KMS keys do not cross regions)."
            problems.append(ImageProblem(("encrypt", "regions", region), message))
    home = key_region(encrypt.kms_key)
    if build_region is not None and home is not None and home != build_region:
        message = (
            f"KMS key {encrypt.kms_key} is in {home}, but the image is built in {build_region}: give a key of "
            f"{build_region} (KMS keys do not cross regions)."
        )
        problems.append(ImageProblem(("encrypt", "kms_key"), message))
    known = build_region or home
    if known is not None:
        missing = missing_region_keys(image, known)
        why = "" if build_region is not None else f" (the image is built in {known}, the region of kms_key)"
        if missing:
            problems.append(ImageProblem(("encrypt", "regions"), missing_keys_message(missing, why)))
        return problems
    keyless = [r for r in image.regions if r not in encrypt.regions]
    if len(keyless) > 1:
        message = (
            f"no KMS key for {', '.join(keyless)}, and only one of them can be the build region: a copy is "
            f"encrypted with a key of its own region, so add e.g. `{keyless[-1]}: alias/your-key` under "
            "image.encrypt.regions."
        )
        problems.append(ImageProblem(("encrypt", "regions"), message))
    return problems
