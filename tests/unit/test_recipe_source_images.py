"""A recipe built on another recipe starts from its newest image that did not fail validation (moto server)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from goldsmith.aws import ec2 as ec2ops
from goldsmith.aws.session import Aws
from goldsmith.aws.tags import VALIDATION_TAG
from goldsmith.bake.sources import newest_image_of, source_image
from goldsmith.errors import PreflightError
from goldsmith.recipe.loader import load_recipe
from goldsmith.recipe.model import Recipe

_serial = itertools.count()


def recipe(name: str) -> Recipe:
    return Recipe.model_validate({
        "name": name, "version": "1.0.0", "source": {"id": "ami-0123456789abcdef0"},
        "image": {"name": name + "-{{ recipe_version }}-{{ timestamp }}"},
    })


def register(aws: Aws, name: str, validation: str | None) -> str:
    """An AMI of our own named like the recipe's output, tagged as the validation left it."""
    ec2 = aws.ec2()
    volume = ec2.create_volume(Size=8, AvailabilityZone="us-east-1a")
    snapshot = ec2.create_snapshot(VolumeId=volume["VolumeId"])["SnapshotId"]
    tags = [{"Key": VALIDATION_TAG, "Value": validation}] if validation else []
    return ec2.register_image(
        Name=f"{name}-1.0.0-2026010112{next(_serial):04d}", RootDeviceName="/dev/xvda", Architecture="x86_64",
        VirtualizationType="hvm", BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}}],
        TagSpecifications=[{"ResourceType": "image", "Tags": tags}] if tags else [],
    )["ImageId"]


def creation(aws: Aws, image_id: str) -> str:
    return str(ec2ops.describe_image(aws.ec2(), image_id)["CreationDate"])


def test_an_image_that_failed_validation_is_not_a_source(aws: Aws) -> None:
    good = register(aws, "base", "passed")
    untagged = register(aws, "base", None)  # images baked without validation carry no tag
    failed = register(aws, "base", "failed")
    while creation(aws, failed) <= creation(aws, untagged):  # same clock tick: make the failed one newer
        failed = register(aws, "base", "failed")
    named = aws.ec2().describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": ["base-*-*"]}])["Images"]
    unfiltered = max(named, key=lambda i: (i.get("CreationDate", ""), i["ImageId"]))
    assert unfiltered["ImageId"] == failed  # without the filter the failed image would win
    assert newest_image_of(aws.ec2(), recipe("base"))["ImageId"] in {good, untagged}
    assert newest_image_of(aws.ec2(), recipe("base"))["ImageId"] != failed


def test_only_failed_images_is_a_sentence(aws: Aws) -> None:
    register(aws, "lonely", "failed")
    expected = r"named like 'lonely-\*-\*' .* that passed validation \(1 matching failed it"
    with pytest.raises(PreflightError, match=expected):
        newest_image_of(aws.ec2(), recipe("lonely"))


def test_check_and_bake_find_a_source_recipe_written_as_yml(aws: Aws, tmp_path: Path) -> None:
    """`invoke check` (load_recipe) and the bake (source_image) resolve source.recipe with one function."""
    (tmp_path / "invoke.yaml").write_text("{}\n")
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "ymlbase.yml").write_text(
        'name: ymlbase\nversion: 1.0.0\nsource: {id: ami-0123456789abcdef0}\n'
        'image: {name: "ymlbase-{{ recipe_version }}-{{ timestamp }}"}\n'
    )
    child = tmp_path / "elsewhere" / "child.yaml"
    child.parent.mkdir()
    child.write_text('name: child\nsource: {recipe: ymlbase}\nimage: {name: "child-{{ timestamp }}"}\n')
    loaded = load_recipe(child, environ={})  # the check finds recipes/ymlbase.yml under the project root
    image_id = register(aws, "ymlbase", "passed")
    assert source_image(aws.ec2(), loaded)["ImageId"] == image_id
    (tmp_path / "recipes" / "ymlbase.yml").unlink()
    with pytest.raises(PreflightError, match=r"source.recipe: no recipe 'ymlbase': expected recipes/ymlbase.yaml or "):
        source_image(aws.ec2(), loaded)


def test_a_source_filter_skips_images_that_failed_validation(aws: Aws, tmp_path: Path) -> None:
    """source.filter (newest match wins) must not pick an image kept by validate.on_failure: keep either."""
    good = register(aws, "filtered", "passed")
    failed = register(aws, "filtered", "failed")
    while creation(aws, failed) <= creation(aws, good):
        failed = register(aws, "filtered", "failed")
    (tmp_path / "tasks.py").write_text("")
    path = tmp_path / "recipes" / "f.yaml"
    path.parent.mkdir()
    path.write_text("name: f\nversion: 1.0.0\nsource:\n  filter: {name: 'filtered-*', owners: [self]}\n"
                    "image:\n  name: 'f-{{ timestamp }}'\n")
    assert source_image(aws.ec2(), load_recipe(path))["ImageId"] == good
