"""Publishing rules that need no AWS call: located by `invoke check`, and enforced again by the bake's preflight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from goldsmith.bake.preflight_share import check_static, region_keys
from goldsmith.errors import InputError, PreflightError, RecipeError
from goldsmith.recipe.checks import source_recipe_path
from goldsmith.recipe.loader import load_recipe
from goldsmith.recipe.model_image import Image
from goldsmith.recipe.publishing import deprecation_time, publishing_problems

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
EAST_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def image(**fields: Any) -> Image:
    return Image.model_validate({"name": "x-{{ timestamp }}", **fields})


def broken(img: Image, build_region: str | None = None) -> list[tuple[tuple[str | int, ...], str]]:
    return [(p.path, p.message) for p in publishing_problems(img, NOW, build_region)]


def test_a_plain_image_breaks_no_rule() -> None:
    assert broken(image(share={"public": True}, regions=["us-west-2"], deprecate_after=1)) == []


def test_copy_regions_need_a_key_once_the_build_region_is_known() -> None:
    img = image(regions=["us-west-2", "eu-west-1"], encrypt={"kms_key": "alias/k", "regions": {"us-west-2": "alias/w"}})
    assert broken(img) == []  # eu-west-1 may be the build region: only the bake can tell
    ((path, message),) = broken(img, "us-east-1")
    assert path == ("encrypt", "regions") and message.startswith("no KMS key for eu-west-1:")
    assert broken(img, "eu-west-1") == []
    arn = image(regions=["us-west-2", "eu-west-1"], encrypt={"kms_key": EAST_KEY, "regions": {"us-west-2": "alias/w"}})
    ((path, message),) = broken(arn)  # a key ARN names the build region
    assert message.startswith("no KMS key for eu-west-1 (the image is built in us-east-1, the region of kms_key)")
    two = image(regions=["us-west-2", "eu-west-1"], encrypt={"kms_key": "alias/k"})
    ((path, message),) = broken(two)
    assert message.startswith("no KMS key for us-west-2, eu-west-1, and only one of them can be the build region")


def test_key_arns_must_be_of_their_region() -> None:
    img = image(regions=["eu-west-1"], encrypt={"kms_key": EAST_KEY, "regions": {"eu-west-1": EAST_KEY}})
    ((path, message),) = broken(img)
    assert path == ("encrypt", "regions", "eu-west-1") and "is in us-east-1, but it must be in eu-west-1" in message
    ((path, message),) = broken(image(encrypt={"kms_key": EAST_KEY}), "us-west-2")
    assert path == ("encrypt", "kms_key") and "the image is built in us-west-2" in message


def test_deprecation_stays_within_what_aws_accepts() -> None:
    """EnableImageDeprecation: at most 10 years ahead, 2 for a public image (3650 and 730 days here)."""
    assert broken(image(deprecate_after=3650)) == []
    assert broken(image(deprecate_after=730, share={"public": True})) == []
    ((path, message),) = broken(image(deprecate_after=731, share={"public": True}))
    assert path == ("deprecate_after",) and message == (
        "731 days is more than 730 for a public image (AWS allows 2 years from its creation); give at most 730.")
    assert broken(image(deprecate_at=(NOW + timedelta(days=3650)).isoformat())) == []
    ((path, message),) = broken(image(deprecate_at=(NOW + timedelta(days=3651)).isoformat()))
    assert path == ("deprecate_at",) and message == (
        "2039-12-31 12:00 UTC is more than 3650 days ahead (AWS allows 10 years); give a moment before 2039-12-30 "
        "12:00 UTC.")
    assert broken(image(deprecate_at=(NOW + timedelta(days=700)).isoformat(), share={"public": True})) == []
    ((path, message),) = broken(image(deprecate_at=(NOW + timedelta(days=800)).isoformat(), share={"public": True}))
    assert path == ("deprecate_at",) and "more than 730 days ahead for a public image" in message
    with pytest.raises(PreflightError, match=r"image\.deprecate_after: 1000 days is more than 730"):
        check_static(image(deprecate_after=1000, share={"public": True}), NOW)


def test_deprecate_after_counts_whole_minutes_from_the_given_start() -> None:
    """The bake passes the AMI's creation time; EC2 would round seconds to the nearest minute, maybe past
    its limit, so the time is cut to the minute."""
    start = datetime(2030, 3, 1, 10, 20, 40, 500, tzinfo=UTC)
    assert deprecation_time(image(deprecate_after=730), start) == datetime(2032, 2, 29, 10, 20, tzinfo=UTC)


def test_check_static_raises_every_broken_rule_and_region_keys_agrees() -> None:
    img = image(share={"public": True}, deprecate_at="2020-01-01", regions=["eu-west-1"],
                encrypt={"kms_key": "alias/k"})
    with pytest.raises(PreflightError) as info:
        check_static(img, NOW, "us-east-1")
    assert str(info.value).splitlines() == [
        "image.share.public: an encrypted AMI cannot be made public; drop one of the two.",
        "image.deprecate_at: 2020-01-01 00:00 UTC is in the past; give a future moment.",
        "image.encrypt.regions: no KMS key for eu-west-1: a copy is encrypted with a key of its own region, so add "
        "e.g. `eu-west-1: alias/your-key` under image.encrypt.regions.",
    ]
    with pytest.raises(PreflightError, match=r"^image.encrypt.regions: no KMS key for eu-west-1:"):
        region_keys(img, "us-east-1")


def test_publishing_rules_are_reported_with_the_other_mistakes(tmp_path: Path) -> None:
    (tmp_path / "tasks.py").write_text("")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: r\nsource: {id: ami-0123456789abcdef0}\nbuild: {instance_typ: t3.micro}\n"
        'image:\n  name: "r-{{ timestamp }}"\n  share: {public: true}\n  encrypt: {kms_key: alias/k}\n'
    )
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe, environ={})
    assert [f"{p.line}:{p.column}: {p.field}" for p in info.value.problems] == [
        "3:9: build.instance_typ", "6:19: image.share.public"
    ]


def test_source_recipe_path_is_under_the_root_yaml_then_yml(tmp_path: Path) -> None:
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "base.yml").write_text("")
    assert source_recipe_path(tmp_path, "base") == tmp_path / "recipes" / "base.yml"
    (tmp_path / "recipes" / "base.yaml").write_text("")
    assert source_recipe_path(tmp_path, "base") == tmp_path / "recipes" / "base.yaml"
    with pytest.raises(InputError, match=r"no recipe 'web': expected recipes/web.yaml or recipes/web.yml in "):
        source_recipe_path(tmp_path, "web")
    with pytest.raises(InputError):
        source_recipe_path(tmp_path, "../recipes/base")
