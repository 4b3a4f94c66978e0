"""Pure parts of sharing and copying: CLI argument checks, keys per region, deprecation time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from goldsmith.aws.sharing import launch_permission_entries, refuse_public
from goldsmith.bake.preflight_share import check_static, deprecation_time, region_keys, target_regions
from goldsmith.errors import InputError, PreflightError
from goldsmith.images.copy import parse_kms_keys
from goldsmith.images.share import share_spec
from goldsmith.recipe.model_image import Image

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
ORG = "arn:aws:organizations::123456789012:organization/o-abcde12345"


def image(**fields: Any) -> Image:
    return Image.model_validate({"name": "x-{{ timestamp }}", **fields})


@pytest.mark.parametrize("who", ["all", "ALL", "*", "public"])
def test_everyone_is_refused_unless_public_flag(who: str) -> None:
    with pytest.raises(InputError, match="--public"):
        share_spec([who], [], [])
    with pytest.raises(InputError, match="--public"):
        share_spec([], [who], [])


def test_share_spec_reports_every_problem_and_dedupes() -> None:
    with pytest.raises(InputError) as err:
        share_spec(["12345", "123456789012"], ["o-x"], ["ou-x"])
    assert "'12345'" in str(err.value) and "'o-x'" in str(err.value) and "'ou-x'" in str(err.value)
    with pytest.raises(InputError, match="say who"):
        share_spec([], [], [])
    spec = share_spec(["123456789012", "123456789012"], [ORG], [], snapshots=True)
    assert spec.accounts == ("123456789012",) and spec.organizations == (ORG,)
    assert {"Group": "all"} not in spec.launch_entries()
    assert share_spec([], [], [], public=True).launch_entries() == [{"Group": "all"}]


def test_group_all_needs_public_even_at_the_lowest_level() -> None:
    entries = launch_permission_entries(["123456789012"], [], [], public=True)
    with pytest.raises(InputError, match="public"):
        refuse_public(entries, public=False)
    refuse_public(entries, public=True)
    with pytest.raises(InputError):
        refuse_public([{"UserId": "all"}], public=False)


def test_kms_keys_per_region() -> None:
    assert parse_kms_keys(["alias/k"], ["us-west-2", "eu-west-1"]) == {"us-west-2": "alias/k", "eu-west-1": "alias/k"}
    assert parse_kms_keys(["eu-west-1=alias/eu", "alias/k"], ["us-west-2", "eu-west-1"]) == {
        "eu-west-1": "alias/eu", "us-west-2": "alias/k"}
    with pytest.raises(InputError, match="ap-south-1"):
        parse_kms_keys(["ap-south-1=alias/x"], ["us-west-2"])


def test_every_copy_region_needs_its_own_key() -> None:
    img = image(regions=["us-west-2", "eu-west-1"],
                encrypt={"kms_key": "alias/main", "regions": {"us-west-2": "alias/west"}})
    with pytest.raises(PreflightError, match="eu-west-1"):
        region_keys(img, "us-east-1")
    img = image(regions=["us-west-2"], encrypt={"kms_key": "alias/main", "regions": {"us-west-2": "alias/west"}})
    assert region_keys(img, "us-east-1") == {"us-east-1": "alias/main", "us-west-2": "alias/west"}
    assert region_keys(image(regions=["us-west-2"]), "us-east-1") == {}
    assert target_regions(image(regions=["us-east-1", "us-west-2"]), "us-east-1") == ["us-east-1", "us-west-2"]


def test_deprecation_time() -> None:
    assert deprecation_time(image(), NOW) is None
    assert deprecation_time(image(deprecate_after=30), NOW) == NOW + timedelta(days=30)
    assert deprecation_time(image(deprecate_at="2031-02-03T04:05:00"), NOW) == datetime(2031, 2, 3, 4, 5, tzinfo=UTC)


def test_static_checks() -> None:
    with pytest.raises(PreflightError, match="in the past"):
        check_static(image(deprecate_at="2020-01-01"), NOW)
    with pytest.raises(PreflightError, match="cannot be made public"):
        check_static(image(share={"public": True}, encrypt={"kms_key": "alias/k"}), NOW)
    check_static(image(share={"public": True}, deprecate_after=1), NOW)
