"""The sandbox's Parameter Store for aws:ec2:image parameters and the AMI's lastLaunchedTime, checked with boto3
over HTTP against a real `python -m goldsmith.sandbox.moto_server` (moto_fixes_ssm, moto_fixes_launched)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from goldsmith.sandbox.moto_fixes import BASE_IMAGE_OWNER
from goldsmith.sandbox.moto_server import MotoProcess

_n = itertools.count()


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoProcess]:
    server = MotoProcess.start(base_image_name="debian-12-sandbox-amd64-20260101")
    yield server
    server.stop()


def client(moto: MotoProcess, service: str, region: str = "us-east-1") -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service, endpoint_url=moto.url, region_name=region, aws_access_key_id="testing",
        aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1}))


def own_image(moto: MotoProcess, region: str = "us-east-1") -> str:
    """An AMI of this account, registered from a snapshot."""
    ec2 = client(moto, "ec2", region)
    volume = ec2.create_volume(Size=1, AvailabilityZone=f"{region}a")["VolumeId"]
    snap = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    return str(ec2.register_image(Name=f"ssm-{next(_n)}", RootDeviceName="/dev/xvda",
                                  BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snap}}],
                                  VirtualizationType="hvm", Architecture="x86_64")["ImageId"])


def put(ssm: Any, name: str, value: str, **extra: Any) -> dict[str, Any]:
    return dict(ssm.put_parameter(Name=name, Value=value, Type=extra.pop("Type", "String"),
                                  DataType=extra.pop("DataType", "aws:ec2:image"), **extra))


def name() -> str:
    return f"/goldsmith/test/channel-{next(_n)}"


def test_an_available_ami_is_stored_with_its_data_type_and_history(moto: MotoProcess) -> None:
    ssm = client(moto, "ssm")
    first, second, param = own_image(moto), own_image(moto), name()
    assert put(ssm, param, first)["Version"] == 1
    assert put(ssm, param, second, Overwrite=True)["Version"] == 2
    got = ssm.get_parameter(Name=param)["Parameter"]
    assert (got["Value"], got["Version"], got["DataType"]) == (second, 2, "aws:ec2:image")
    history = ssm.get_parameter_history(Name=param)["Parameters"]
    assert [(h["Version"], h["Value"], h["DataType"]) for h in history] == [
        (1, first, "aws:ec2:image"), (2, second, "aws:ec2:image")]


@pytest.mark.parametrize("value", ["ami-0123456789abcdef0", "not-an-ami", "deregistered", "other-region"])
def test_a_value_that_is_no_available_ami_is_answered_200_and_not_stored(moto: MotoProcess, value: str) -> None:
    """AWS validates aws:ec2:image asynchronously: PutParameter says 200 and the next version, nothing changes."""
    ssm, ec2 = client(moto, "ssm"), client(moto, "ec2")
    current, param = own_image(moto), name()
    put(ssm, param, current)
    if value == "deregistered":
        value = own_image(moto)
        ec2.deregister_image(ImageId=value)
    elif value == "other-region":
        value = own_image(moto, "us-west-2")
    assert put(ssm, param, value, Overwrite=True)["Version"] == 2
    got = ssm.get_parameter(Name=param)["Parameter"]
    assert (got["Value"], got["Version"]) == (current, 1)
    assert len(ssm.get_parameter_history(Name=param)["Parameters"]) == 1


def test_a_new_parameter_with_an_unknown_ami_is_not_created(moto: MotoProcess) -> None:
    ssm, param = client(moto, "ssm"), name()
    assert put(ssm, param, "ami-0123456789abcdef0")["Version"] == 1
    with pytest.raises(ClientError, match="ParameterNotFound"):
        ssm.get_parameter(Name=param)


def test_a_disabled_ami_is_not_available(moto: MotoProcess) -> None:
    ssm, ec2, param = client(moto, "ssm"), client(moto, "ec2"), name()
    current, disabled = own_image(moto), own_image(moto)
    put(ssm, param, current)
    ec2.disable_image(ImageId=disabled)
    put(ssm, param, disabled, Overwrite=True)
    assert ssm.get_parameter(Name=param)["Parameter"]["Value"] == current


@pytest.mark.parametrize("kind", ["SecureString", "StringList"])
def test_only_string_parameters_carry_aws_ec2_image(moto: MotoProcess, kind: str) -> None:
    with pytest.raises(ClientError, match=r"ValidationException.*only supported for parameters of type String"):
        put(client(moto, "ssm"), name(), own_image(moto), Type=kind)


def test_the_data_type_cannot_change_to_or_from_aws_ec2_image(moto: MotoProcess) -> None:
    ssm, image = client(moto, "ssm"), own_image(moto)
    as_image, as_text = name(), name()
    put(ssm, as_image, image)
    put(ssm, as_text, image, DataType="text")
    with pytest.raises(ClientError, match="can't change the data type"):
        put(ssm, as_image, image, DataType="text", Overwrite=True)
    with pytest.raises(ClientError, match="can't change the data type"):
        put(ssm, as_text, image, Overwrite=True)


def test_an_existing_parameter_without_overwrite_is_refused_even_with_a_bad_value(moto: MotoProcess) -> None:
    ssm, param = client(moto, "ssm"), name()
    put(ssm, param, own_image(moto))
    with pytest.raises(ClientError, match="ParameterAlreadyExists"):
        put(ssm, param, "ami-0123456789abcdef0")


def test_text_parameters_are_untouched(moto: MotoProcess) -> None:
    ssm, param = client(moto, "ssm"), name()
    put(ssm, param, "anything", DataType="text")
    assert ssm.get_parameter(Name=param)["Parameter"]["Value"] == "anything"


def test_last_launched_time_is_recorded_by_run_instances(moto: MotoProcess) -> None:
    ec2 = client(moto, "ec2")
    wanted = [{"Name": "name", "Values": ["debian-12-sandbox-amd64-*"]}]
    base = ec2.describe_images(Owners=[BASE_IMAGE_OWNER], Filters=wanted)["Images"][0]["ImageId"]
    never = own_image(moto)
    assert ec2.describe_image_attribute(ImageId=never, Attribute="lastLaunchedTime")["LastLaunchedTime"] == {}
    ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1)
    launched = ec2.describe_image_attribute(ImageId=base, Attribute="lastLaunchedTime")["LastLaunchedTime"]
    assert launched["Value"].startswith("20") and launched["Value"].endswith("Z")
    # the other attributes still answer as before (the fixes below this one, and moto's own)
    assert ec2.describe_image_attribute(ImageId=never, Attribute="bootMode")["ImageId"] == never
    assert ec2.describe_image_attribute(ImageId=never, Attribute="launchPermission")["LaunchPermissions"] == []
