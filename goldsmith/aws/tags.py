"""Tags: every resource Goldsmith creates carries goldsmith:build-id, applied at creation."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_ec2.literals import ResourceTypeType
    from mypy_boto3_ec2.type_defs import TagSpecificationTypeDef, TagTypeDef

BUILD_ID_TAG = "goldsmith:build-id"
RECIPE_TAG = "goldsmith:recipe"
VERSION_TAG = "goldsmith:version"
SOURCE_AMI_TAG = "goldsmith:source-ami"
COMMIT_TAG = "goldsmith:git-commit"
VALIDATION_TAG = "goldsmith:validation"
FINGERPRINT_TAG = "goldsmith:fingerprint"  # the bake's input fingerprint (goldsmith.recipe.fingerprint)


def client_token(text: str) -> str:
    """An idempotency token of at most 64 characters that stays unique when the text is longer.

    Cutting a long build id to 64 characters would drop its random suffix, and two bakes of a
    long-named recipe would send one token with different parameters (IdempotentParameterMismatch).
    """
    if len(text) <= 64:
        return text
    return f"{text[:39]}-{hashlib.sha256(text.encode()).hexdigest()[:24]}"


def tag_list(tags: Mapping[str, str]) -> list[TagTypeDef]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def tag_specs(resource_types: Iterable[ResourceTypeType], tags: Mapping[str, str]) -> list[TagSpecificationTypeDef]:
    """TagSpecifications for the given resource types, so tags exist from the first moment."""
    return [{"ResourceType": rt, "Tags": tag_list(tags)} for rt in resource_types]


def tags_dict(tags: Iterable[TagTypeDef] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}
