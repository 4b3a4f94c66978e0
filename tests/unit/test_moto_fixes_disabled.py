"""Disabled AMIs in the sandbox's moto, over HTTP: hidden from DescribeImages unless IncludeDisabled (by
filter and by id), made private by DisableImage, not made shared again by EnableImage, name still taken."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from goldsmith.sandbox.moto_server import MotoProcess
from tests.unit.test_moto_fixes import client, unique


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoProcess]:
    server = MotoProcess.start(base_image_name="debian-12-sandbox-amd64-20260101")
    yield server
    server.stop()


def registered(ec2: Any, name: str) -> str:
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    return str(ec2.register_image(Name=name, RootDeviceName="/dev/xvda", BlockDeviceMappings=[
        {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}}])["ImageId"])


def named(ec2: Any, name: str, **params: Any) -> list[str]:
    found = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [name]}], **params)["Images"]
    return [i["ImageId"] for i in found]


def test_disabled_images_are_listed_only_with_include_disabled(moto: MotoProcess) -> None:
    ec2 = client(moto)
    name = unique("disabled")
    image = registered(ec2, name)
    ec2.disable_image(ImageId=image)
    assert named(ec2, name) == []
    assert ec2.describe_images(ImageIds=[image])["Images"] == []
    shown = ec2.describe_images(ImageIds=[image], IncludeDisabled=True)["Images"]
    assert [(i["ImageId"], i["State"]) for i in shown] == [(image, "disabled")]
    assert named(ec2, name, IncludeDisabled=True) == [image]
    ec2.enable_image(ImageId=image)
    assert named(ec2, name) == [image]


def test_disabling_makes_an_image_private_for_good(moto: MotoProcess) -> None:
    ec2 = client(moto)
    image = registered(ec2, unique("shared"))
    ec2.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": "111122223333"},
                                                                        {"Group": "all"}]})
    ec2.disable_image(ImageId=image)
    ec2.enable_image(ImageId=image)
    assert ec2.describe_image_attribute(ImageId=image, Attribute="launchPermission")["LaunchPermissions"] == []
    assert ec2.describe_images(ImageIds=[image])["Images"][0]["Public"] is False


def test_a_disabled_image_keeps_its_name(moto: MotoProcess) -> None:
    ec2 = client(moto)
    name = unique("taken")
    ec2.disable_image(ImageId=registered(ec2, name))
    with pytest.raises(ClientError, match=r"InvalidAMIName\.Duplicate"):
        registered(ec2, name)
