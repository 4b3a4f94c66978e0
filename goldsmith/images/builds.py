"""The builds Goldsmith made, found by their tags: one build = one build id, an AMI in each region it reached.

A bake tags its AMI (and every copy) with goldsmith:build-id, goldsmith:recipe and goldsmith:version, and,
once validated, goldsmith:validation=passed. Everything image-level (channels, inventory, retention) starts
from these records, so nothing but the AMIs themselves is needed to know what exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from goldsmith.aws.reaper import pages
from goldsmith.aws.tags import BUILD_ID_TAG, RECIPE_TAG, VALIDATION_TAG, VERSION_TAG, tags_dict
from goldsmith.errors import InputError

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import FilterTypeDef, ImageTypeDef

    from goldsmith.aws.session import Aws

KEEP_TAG = "goldsmith:keep"


@dataclass
class Build:
    """One build of a recipe: its AMI in each region (the build region's and its copies)."""

    build_id: str
    recipe: str
    version: str
    images: dict[str, ImageTypeDef] = field(default_factory=dict)  # region -> image

    @property
    def created(self) -> str:
        """The earliest CreationDate among its images (the build region's AMI: copies come later)."""
        return min((i.get("CreationDate", "") for i in self.images.values()), default="")

    def tag(self, key: str) -> str:
        """A tag of the build's images ('' if none has it)."""
        return next((v for i in self.images.values() if (v := tags_dict(i.get("Tags")).get(key))), "")

    @property
    def validation(self) -> str:
        return self.tag(VALIDATION_TAG) or "none"

    def image_ids(self) -> dict[str, str]:
        return {region: image["ImageId"] for region, image in sorted(self.images.items())}

    def region_of(self, image_id: str) -> str | None:
        return next((r for r, i in self.images.items() if i["ImageId"] == image_id), None)


def _images(aws: Aws, region: str, recipe: str | None) -> list[ImageTypeDef]:
    flt: list[FilterTypeDef] = ([{"Name": f"tag:{RECIPE_TAG}", "Values": [recipe]}] if recipe
                                else [{"Name": "tag-key", "Values": [RECIPE_TAG]}])
    # Disabled AMIs are left out of DescribeImages unless asked for: they are builds too (retired ones).
    found: list[ImageTypeDef] = pages(aws.ec2(region), "DescribeImages", "Images", Owners=["self"], Filters=flt,
                                      IncludeDisabled=True)
    return found


def find_builds(aws: Aws, regions: Iterable[str], recipe: str | None = None) -> list[Build]:
    """Every build of the recipe (or of every recipe) with an AMI in any of the regions, newest first."""
    regions = list(dict.fromkeys(regions))
    with ThreadPoolExecutor(max(1, min(8, len(regions)))) as pool:
        per_region = list(pool.map(lambda r: (r, _images(aws, r, recipe)), regions))
    builds: dict[str, Build] = {}
    for region, images in per_region:
        for image in images:
            tags = tags_dict(image.get("Tags"))
            build_id = tags.get(BUILD_ID_TAG)
            if not build_id:
                continue
            build = builds.setdefault(build_id, Build(build_id, tags.get(RECIPE_TAG, ""), tags.get(VERSION_TAG, "")))
            build.images[region] = image
    return sorted(builds.values(), key=lambda b: (b.created, b.build_id), reverse=True)


def pick_build(builds: list[Build], recipe: str, reference: str, regions: list[str]) -> Build:
    """The build an AMI id (of any of its regions) or a version names; the newest build of that version.

    Bad input (InputError, exit 2): a recipe with no AMI at all, no such AMI or version among the recipe's
    builds, or an AMI that another recipe made.
    """
    where = ", ".join(regions)
    if not any(b.recipe == recipe for b in builds):
        raise InputError(f"recipe '{recipe}' has no AMI in {where}: check the name, or bake it first")
    if reference.startswith("ami-"):
        for build in builds:
            if build.region_of(reference):
                if build.recipe != recipe:
                    raise InputError(f"{reference} was baked from recipe '{build.recipe}', not '{recipe}'")
                return build
        raise InputError(f"{reference} is not an AMI of recipe '{recipe}' in {where}")
    matching = [b for b in builds if b.recipe == recipe and b.version == reference]
    if not matching:
        versions = sorted({b.version for b in builds if b.recipe == recipe})
        raise InputError(f"recipe '{recipe}' has no build of version {reference} in {where} "
                         f"(known: {', '.join(versions)})")
    return matching[0]
