"""Finding the newest usable image of a name pattern, skipping images that failed their validation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from goldsmith.aws.calls import aws_call
from goldsmith.aws.tags import VALIDATION_TAG, tags_dict
from goldsmith.errors import PreflightError

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import FilterTypeDef, ImageTypeDef


def newest_validated_image(ec2: EC2Client, *, name: str, owners: Sequence[str], architecture: str,
                           hint: str = "") -> ImageTypeDef:
    """The newest available image matching the filter (like Packer's most_recent = true) whose
    goldsmith:validation tag is not "failed".

    ``validate.on_failure: keep`` leaves a failed image available for inspection; no recipe may start
    from it, whether it names its source by filter or by recipe. ``hint`` ends the error message.
    """
    filters: list[FilterTypeDef] = [
        {"Name": "name", "Values": [name]},
        {"Name": "architecture", "Values": [architecture]},
        {"Name": "state", "Values": ["available"]},
    ]
    with aws_call("DescribeImages", name):
        pages = ec2.get_paginator("describe_images").paginate(Owners=list(owners), Filters=filters)
        images = [image for page in pages for image in page["Images"]]
    usable = [i for i in images if tags_dict(i.get("Tags")).get(VALIDATION_TAG) != "failed"]
    if not usable:
        failed = f" that passed validation ({len(images)} matching failed it and are skipped)" if images else ""
        raise PreflightError(
            f"No available {architecture} AMI named like '{name}' owned by {', '.join(owners)} in this region"
            f"{failed}{hint}."
        )
    return max(usable, key=lambda i: (i.get("CreationDate", ""), i["ImageId"]))
