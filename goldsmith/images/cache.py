"""The build cache: find images an earlier bake made from the same inputs, so a bake can be skipped.

Every bake tags its AMI (and the AMI's copies) goldsmith:fingerprint with its input fingerprint
(goldsmith.recipe.fingerprint). An image is *reusable* for a fingerprint when it is available, not
deprecated, its validation tag says it passed (or `none`: the recipe has no suites, tagged so at
registration), and an available copy made by the same build exists in every other region asked for.
Images that are pending, failed, disabled, deregistered (gone), that failed validation, or whose bake
stopped before validation recorded a result are never reused; `lookup` says why for each.

Cost: one DescribeImages in the build region for any number of fingerprints (a tag filter lists them
all), plus one per other region that some hit needs a copy in. A pipeline's plan of a hundred recipes
costs the same few calls as one bake's lookup.

What depends on the recipe beyond its fingerprint (the launch permissions and deprecation its last
steps set, which a bake killed before them lacks) is checked by `incomplete`, for one hit, at bake time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from goldsmith.aws import ec2 as ec2ops
from goldsmith.aws import sharing
from goldsmith.aws.image_cache import images_with_fingerprints
from goldsmith.aws.tags import BUILD_ID_TAG, FINGERPRINT_TAG, RECIPE_TAG, VALIDATION_TAG, VERSION_TAG, tags_dict
from goldsmith.images.cache_key import cache_key
from goldsmith.recipe.fingerprint import fingerprint

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import ImageTypeDef

    from goldsmith.aws.session import Aws
    from goldsmith.recipe.loader import LoadedRecipe
    from goldsmith.recipe.model import Share

__all__ = ["REUSABLE_VALIDATION", "CacheLookup", "CachedArtifact", "CachedImage", "find_cached", "incomplete",
           "lookup", "recipe_fingerprint"]

REUSABLE_VALIDATION = ("passed", "none")  # goldsmith:validation values of a reusable image


@dataclass(frozen=True)
class CachedArtifact:
    """The cached AMI in one region."""

    region: str
    image_id: str
    snapshots: dict[str, str]  # device -> snapshot id
    image: ImageTypeDef = field(repr=False, compare=False)


@dataclass(frozen=True)
class CachedImage:
    """A reusable image for one fingerprint: the build that made it and its AMI in every region needed."""

    fingerprint: str
    build_id: str
    recipe: str
    version: str
    name: str
    created: str
    validation: str  # passed | none (the recipe has no suites)
    deprecation_time: str  # ISO 8601, "" when not deprecated
    artifacts: dict[str, CachedArtifact]  # region -> AMI, the build region first

    @property
    def image_id(self) -> str:
        """The AMI in the build region."""
        return next(iter(self.artifacts.values())).image_id


@dataclass
class CacheLookup:
    """The answer for many fingerprints: the hits, and for the others why each image found was not reused."""

    hits: dict[str, CachedImage] = field(default_factory=dict)
    rejected: dict[str, list[str]] = field(default_factory=dict)  # fingerprint -> reasons, one per image

    def why_not(self, fingerprint: str) -> str:
        reasons = self.rejected.get(fingerprint)
        return "; ".join(reasons) if reasons else "no image has this fingerprint"


def recipe_fingerprint(loaded: LoadedRecipe, source_ami: str, work_dir: Path) -> str:
    """The recipe's fingerprint on this source AMI, secret values keyed with the project's cache key
    (read, or made, only when the recipe has secret variables)."""
    key = cache_key(work_dir) if loaded.secret_names else None
    return fingerprint(loaded, source_ami, secret_key=key)


def find_cached(aws: Aws, region: str, fingerprints: Iterable[str],
                regions_needed: Sequence[str] | Mapping[str, Sequence[str]] = ()) -> dict[str, CachedImage]:
    """Reusable images by fingerprint, for the fingerprints that have one (see `lookup`)."""
    return lookup(aws, region, fingerprints, regions_needed).hits


def lookup(aws: Aws, region: str, fingerprints: Iterable[str],
           regions_needed: Sequence[str] | Mapping[str, Sequence[str]] = ()) -> CacheLookup:
    """Find a reusable image for each fingerprint in the build `region`, with copies in the other regions
    `regions_needed` names (the same for every fingerprint, or per fingerprint). Newest image first.

    Costs one DescribeImages in `region`, and one in each other region a candidate needs a copy in."""
    wanted = sorted(set(fingerprints))
    result = CacheLookup()
    if not wanted:
        return result
    candidates: dict[str, list[ImageTypeDef]] = {}
    for image in images_with_fingerprints(aws.ec2(region), wanted):
        fp = tags_dict(image.get("Tags")).get(FINGERPRINT_TAG, "")
        reason = _unusable(image)
        if reason:
            result.rejected.setdefault(fp, []).append(reason)
        else:
            candidates.setdefault(fp, []).append(image)
    needs = {fp: [r for r in _regions_for(regions_needed, fp) if r != region] for fp in candidates}
    copies = _copies(aws, needs)
    for fp, images in candidates.items():
        for image in sorted(images, key=lambda i: (i.get("CreationDate", ""), i["ImageId"]), reverse=True):
            hit, reason = _with_copies(fp, region, image, needs[fp], copies)
            if hit is not None:
                result.hits[fp] = hit
                break
            result.rejected.setdefault(fp, []).append(reason)
    for fp in result.hits:
        result.rejected.pop(fp, None)
    return result


def incomplete(aws: Aws, cached: CachedImage, share: Share, *, deprecates: bool) -> str:
    """Why a hit lacks what the recipe's last steps set (its bake stopped before them), or "".

    Reads the launch permissions of each artifact when the recipe shares (one DescribeImageAttribute per
    region); the deprecation time comes from the lookup's own description."""
    if deprecates and not cached.deprecation_time:
        return f"{cached.image_id} has no deprecation time although the recipe deprecates (its bake did not finish)"
    wanted = sharing.launch_permission_entries(share.accounts, share.organizations, share.ous, share.public)
    if not wanted:
        return ""
    for artifact in cached.artifacts.values():
        current = sharing.launch_permissions(aws.ec2(artifact.region), artifact.image_id)
        missing = [sharing.grantee(e) for e in wanted if e not in current]
        if missing:
            return (f"{artifact.image_id} in {artifact.region} is not shared with {', '.join(missing)} "
                    "(its bake did not finish sharing)")
    return ""


def _regions_for(regions_needed: Sequence[str] | Mapping[str, Sequence[str]], fp: str) -> list[str]:
    if isinstance(regions_needed, Mapping):
        return list(dict.fromkeys(regions_needed.get(fp, ())))
    return list(dict.fromkeys(regions_needed))


def _unusable(image: ImageTypeDef, now: datetime | None = None) -> str:
    """Why this image may not be reused whatever the recipe, or ""."""
    image_id = image["ImageId"]
    tags = tags_dict(image.get("Tags"))
    build = tags.get(BUILD_ID_TAG, "an unknown build")
    state = image.get("State", "")
    if state != "available":
        return f"{image_id} (build {build}) is {state or 'in an unknown state'}"
    validation = tags.get(VALIDATION_TAG, "")
    if validation == "failed":
        return f"{image_id} (build {build}) failed its validation"
    if validation not in REUSABLE_VALIDATION:
        return f"{image_id} (build {build}) has no validation result (its bake stopped before validating)"
    deprecated = _deprecation(image)
    if deprecated and deprecated <= (now or datetime.now(UTC)):
        return f"{image_id} (build {build}) is deprecated since {image.get('DeprecationTime')}"
    return ""


def _deprecation(image: ImageTypeDef) -> datetime | None:
    text = str(image.get("DeprecationTime", "") or "")
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _copies(aws: Aws, needs: Mapping[str, Sequence[str]]) -> dict[tuple[str, str], ImageTypeDef]:
    """Usable images in other regions, by (region, build id): one DescribeImages per region needed."""
    by_region: dict[str, set[str]] = {}
    for fp, regions in needs.items():
        for region in regions:
            by_region.setdefault(region, set()).add(fp)
    found: dict[tuple[str, str], ImageTypeDef] = {}
    for region, fps in sorted(by_region.items()):
        for image in images_with_fingerprints(aws.ec2(region), fps):
            build = tags_dict(image.get("Tags")).get(BUILD_ID_TAG)
            if build and not _unusable(image):
                found[(region, build)] = image
    return found


def _with_copies(fp: str, region: str, image: ImageTypeDef, regions: Sequence[str],
                 copies: Mapping[tuple[str, str], ImageTypeDef]) -> tuple[CachedImage | None, str]:
    """The hit this image makes when its build's copy exists in every region needed, else why not."""
    tags = tags_dict(image.get("Tags"))
    build = tags.get(BUILD_ID_TAG, "")
    images = {region: image}
    for other in regions:
        copy = copies.get((other, build))
        if copy is None or tags_dict(copy.get("Tags")).get(FINGERPRINT_TAG) != fp:
            return None, f"{image['ImageId']} (build {build or 'unknown'}) has no usable copy in {other}"
        images[other] = copy
    artifacts = {r: CachedArtifact(r, i["ImageId"], ec2ops.snapshots_by_device(i), i) for r, i in images.items()}
    hit = CachedImage(fingerprint=fp, build_id=build, recipe=tags.get(RECIPE_TAG, ""),
                      version=tags.get(VERSION_TAG, ""), name=image.get("Name", ""),
                      created=image.get("CreationDate", ""), validation=tags.get(VALIDATION_TAG, ""),
                      deprecation_time=str(image.get("DeprecationTime", "") or ""), artifacts=artifacts)
    return hit, ""
