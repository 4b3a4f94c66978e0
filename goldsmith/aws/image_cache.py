"""The build cache's AWS side: this account's images carrying some of the given input fingerprints.

One DescribeImages per region answers for many fingerprints at once (a tag filter lists them all), so
planning a pipeline of a hundred recipes costs the same few calls as planning one. AWS takes at most
200 values in one filter; longer lists are sent in chunks of 200.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from goldsmith.aws.calls import aws_call
from goldsmith.aws.tags import FINGERPRINT_TAG

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import ImageTypeDef

MAX_FILTER_VALUES = 200


def images_with_fingerprints(ec2: EC2Client, fingerprints: Iterable[str]) -> list[ImageTypeDef]:
    """Every image this account owns in the client's region whose goldsmith:fingerprint tag is one of
    `fingerprints`, in any state (the caller decides what is usable and says why not)."""
    wanted = sorted(set(fingerprints))
    images: list[ImageTypeDef] = []
    for start in range(0, len(wanted), MAX_FILTER_VALUES):
        chunk = wanted[start:start + MAX_FILTER_VALUES]
        with aws_call("DescribeImages", f"tag:{FINGERPRINT_TAG} ({len(chunk)} values)"):
            pages = ec2.get_paginator("describe_images").paginate(
                Owners=["self"], Filters=[{"Name": f"tag:{FINGERPRINT_TAG}", "Values": chunk}])
            images += [image for page in pages for image in page["Images"]]
    return images
