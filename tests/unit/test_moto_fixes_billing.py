"""The sandbox's billing, TPM and UEFI fixes, checked with boto3 over HTTP against a real moto server."""

from __future__ import annotations

import base64
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from goldsmith.sandbox.moto_fixes import BASE_IMAGE_OWNER
from goldsmith.sandbox.moto_server import MotoProcess
from tests.unit.test_moto_fixes import BASE_NAME, client, unique

LINUX = ("Linux/UNIX", "RunInstances")
RHEL = ("Red Hat Enterprise Linux", "RunInstances:0010")


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoProcess]:
    server = MotoProcess.start(base_image_name=BASE_NAME)
    yield server
    server.stop()


def billing(image: dict[str, Any]) -> tuple[str | None, str | None]:
    return image.get("PlatformDetails"), image.get("UsageOperation")


def public_image(ec2: Any, pattern: str) -> dict[str, Any]:
    wanted = [{"Name": "name", "Values": [pattern]}]
    (image,) = ec2.describe_images(Owners=[BASE_IMAGE_OWNER], Filters=wanted)["Images"]
    return dict(image)


def describe(ec2: Any, image_id: str) -> dict[str, Any]:
    return dict(ec2.describe_images(ImageIds=[image_id])["Images"][0])


def root_snapshot(image: dict[str, Any]) -> str:
    return str(image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"])


def register(ec2: Any, snapshot_id: str, **extra: Any) -> str:
    return str(ec2.register_image(
        Name=unique("billing"), RootDeviceName="/dev/xvda", Architecture="x86_64", VirtualizationType="hvm",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot_id}}], **extra)["ImageId"])


def launch(ec2: Any, image_id: str) -> str:
    return str(ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"])


def attribute(ec2: Any, image_id: str, name: str) -> str | None:
    answer = ec2.describe_image_attribute(ImageId=image_id, Attribute=name)
    value = answer.get(name[0].upper() + name[1:], {}).get("Value")
    return str(value) if value is not None else None


def test_the_public_images_show_their_billing_code_and_share_one_root_snapshot(moto: MotoProcess) -> None:
    for region in ("us-east-1", "eu-central-1"):
        ec2 = client(moto, region=region)
        debian = public_image(ec2, "debian-12-sandbox-amd64-*")
        rhel = public_image(ec2, "rhel-9-sandbox-amd64-*")
        assert billing(debian) == LINUX and billing(rhel) == RHEL
        assert rhel["Name"] == "rhel-9-sandbox-amd64-20260101" and rhel["Public"]
        assert rhel["OwnerId"] == debian["OwnerId"] == BASE_IMAGE_OWNER
        assert root_snapshot(rhel) == root_snapshot(debian)
        listed = ec2.describe_images(Owners=[BASE_IMAGE_OWNER])["Images"]
        assert [i["ImageId"] for i in listed] == [debian["ImageId"], rhel["ImageId"]]  # the Debian AMI stays first


def test_register_image_from_snapshots_loses_the_billing_code_but_keeps_tpm_and_uefi_data(moto: MotoProcess) -> None:
    ec2 = client(moto)
    rhel = public_image(ec2, "rhel-9-sandbox-amd64-*")
    image_id = register(ec2, root_snapshot(rhel), BootMode="uefi", TpmSupport="v2.0", UefiData="R1NWQVJT")
    image = describe(ec2, image_id)
    assert billing(image) == LINUX
    assert image["TpmSupport"] == "v2.0" and image["BootMode"] == "uefi"
    assert attribute(ec2, image_id, "tpmSupport") == "v2.0"
    assert attribute(ec2, image_id, "uefiData") == "R1NWQVJT"
    plain = register(ec2, root_snapshot(rhel))
    assert "TpmSupport" not in describe(ec2, plain)
    assert attribute(ec2, plain, "tpmSupport") is None and attribute(ec2, plain, "uefiData") is None


def test_create_image_and_copy_image_keep_the_billing_code_and_tpm(moto: MotoProcess) -> None:
    ec2 = client(moto)
    rhel = public_image(ec2, "rhel-9-sandbox-amd64-*")
    created = ec2.create_image(InstanceId=launch(ec2, rhel["ImageId"]), Name=unique("from-rhel"))["ImageId"]
    assert billing(describe(ec2, created)) == RHEL
    west = client(moto, region="us-west-2")
    copied = west.copy_image(SourceImageId=created, SourceRegion="us-east-1", Name=unique("copy"))["ImageId"]
    assert billing(describe(west, copied)) == RHEL
    tpm = register(ec2, root_snapshot(rhel), BootMode="uefi", TpmSupport="v2.0")
    again = ec2.create_image(InstanceId=launch(ec2, tpm), Name=unique("from-tpm"))["ImageId"]
    assert describe(ec2, again).get("TpmSupport") == "v2.0" and billing(describe(ec2, again)) == LINUX


def test_get_instance_uefi_data_returns_the_instance_variable_store(moto: MotoProcess) -> None:
    ec2 = client(moto)
    debian = public_image(ec2, "debian-12-sandbox-amd64-*")  # uefi-preferred: boots UEFI in the sandbox
    first, second = launch(ec2, debian["ImageId"]), launch(ec2, debian["ImageId"])
    store = ec2.get_instance_uefi_data(InstanceId=first)["UefiData"]
    assert store and zlib.decompress(base64.b64decode(store))  # base64 of zlib data, as on AWS
    assert ec2.get_instance_uefi_data(InstanceId=first)["UefiData"] == store
    assert ec2.get_instance_uefi_data(InstanceId=second)["UefiData"] != store

    legacy = register(ec2, root_snapshot(debian), BootMode="legacy-bios")
    assert ec2.get_instance_uefi_data(InstanceId=launch(ec2, legacy))["UefiData"] == ""

    with_store = register(ec2, root_snapshot(debian), BootMode="uefi", UefiData=store)
    instance = launch(ec2, with_store)
    assert ec2.get_instance_uefi_data(InstanceId=instance)["UefiData"] == store  # starts from the AMI's
    created = ec2.create_image(InstanceId=instance, Name=unique("from-store"))["ImageId"]
    assert attribute(ec2, created, "uefiData") == store
