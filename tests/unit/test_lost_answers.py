"""The bake's creates without a ClientToken when EC2 carried one out and its answer was lost (the gateway's
`lose_answer` fault, a real moto server behind it and the in-memory fake runtime): botocore retries the call,
and the product neither leaks the first attempt's resource nor fails on its Duplicate; a Duplicate without
a retry, or for a resource another build made, stays an error."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from goldsmith.aws import creates
from goldsmith.aws import ec2 as ec2ops
from goldsmith.aws.session import Aws, AwsSettings
from goldsmith.aws.tags import BUILD_ID_TAG, tag_specs
from goldsmith.errors import AwsError
from goldsmith.sandbox.client import SandboxClient
from goldsmith.sandbox.credentials import UNCHECKED
from goldsmith.sandbox.gateway import Gateway
from goldsmith.ssh.keys import PrivateKey
from tests.unit.test_gateway import FakeRuntime, base_ami, gateway_on_own_moto

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import RegisterImageRequestTypeDef

WAITS = ec2ops.Waits(delay=0.05, not_found=2.0)


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    with gateway_on_own_moto(FakeRuntime()) as gw:
        yield gw


@pytest.fixture
def control(gateway: Gateway) -> Iterator[SandboxClient]:
    client = SandboxClient(gateway.url, UNCHECKED)
    client.reset_counts()
    yield client
    client.clear_faults()


@pytest.fixture
def ec2(gateway: Gateway) -> EC2Client:
    """The product's own client, retrying as a bake does (a few attempts are enough here)."""
    return Aws(AwsSettings(region="us-east-1", endpoint_url=gateway.url, access_key_id="testing",
                           secret_access_key="testing", max_attempts=3)).ec2()


@pytest.fixture
def tags() -> dict[str, str]:
    return {BUILD_ID_TAG: f"lost-{uuid.uuid4().hex[:8]}"}


def _lose(control: SandboxClient, action: str) -> None:
    control.set_faults([{"action": action, "error": "InternalError", "nth": 1, "lose_answer": True}])


def _faults(control: SandboxClient, action: str) -> list[str | None]:
    return [r["fault"] for r in control.requests(action=action)]


def _stopped_instance(ec2: EC2Client) -> str:
    instance_id = ec2.run_instances(ImageId=base_ami(ec2), MinCount=1, MaxCount=1, BlockDeviceMappings=[
        {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 4}}])["Instances"][0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[instance_id])
    return instance_id


def test_a_security_group_made_by_a_lost_answer_is_adopted(ec2: EC2Client, control: SandboxClient,
                                                           tags: dict[str, str]) -> None:
    vpc = ec2ops.default_vpc(ec2)
    _lose(control, "CreateSecurityGroup")
    group_id = creates.create_security_group(ec2, name=f"sg-{tags[BUILD_ID_TAG]}", vpc_id=vpc, tags=tags, waits=WAITS)
    assert _faults(control, "CreateSecurityGroup") == ["InternalError", None]  # the retry met a Duplicate
    groups = ec2.describe_security_groups(Filters=[{"Name": f"tag:{BUILD_ID_TAG}", "Values": [tags[BUILD_ID_TAG]]}])
    assert [g["GroupId"] for g in groups["SecurityGroups"]] == [group_id]


def test_a_duplicate_group_without_a_retry_or_of_another_build_stays_an_error(
    ec2: EC2Client, control: SandboxClient, tags: dict[str, str]
) -> None:
    vpc, name = ec2ops.default_vpc(ec2), f"sg-{tags[BUILD_ID_TAG]}"
    creates.create_security_group(ec2, name=name, vpc_id=vpc, tags={BUILD_ID_TAG: "another-build"},
                                  waits=WAITS)
    with pytest.raises(AwsError) as err:
        creates.create_security_group(ec2, name=name, vpc_id=vpc, tags=tags, waits=WAITS)
    assert (err.value.code, err.value.retries) == ("InvalidGroup.Duplicate", 0)
    _lose(control, "CreateSecurityGroup")  # retried, but the group is not this build's
    with pytest.raises(AwsError) as err:
        creates.create_security_group(ec2, name=name, vpc_id=vpc, tags=tags, waits=WAITS)
    assert (err.value.code, err.value.retries) == ("InvalidGroup.Duplicate", 1)


def test_a_key_pair_made_by_a_lost_answer_is_made_again_with_a_key_we_hold(
    ec2: EC2Client, control: SandboxClient, tags: dict[str, str]
) -> None:
    """The first attempt's private key went with its answer: that key pair is deleted and made again."""
    name = f"kp-{tags[BUILD_ID_TAG]}"
    _lose(control, "CreateKeyPair")
    key_id, material = creates.create_key_pair(ec2, name, tags, waits=WAITS)
    assert _faults(control, "CreateKeyPair") == ["InternalError", None, None]
    assert len(control.requests(action="DeleteKeyPair")) == 1
    [pair] = ec2.describe_key_pairs(KeyNames=[name], IncludePublicKey=True)["KeyPairs"]
    assert pair["KeyPairId"] == key_id
    assert PrivateKey.from_openssh(material).public_openssh().split()[:2] == pair["PublicKey"].split()[:2]


def test_a_key_pair_of_a_lost_answer_not_yet_described_is_asked_for_again(
    ec2: EC2Client, control: SandboxClient, tags: dict[str, str]
) -> None:
    """Right after the create, DescribeKeyPairs may not know the key pair yet (eventual consistency): the
    Duplicate's key pair is looked up again until it shows, not taken for someone else's. (The window
    outlasts botocore's first backoff, at most 1 s.)"""
    name = f"kp-{tags[BUILD_ID_TAG]}"
    control.set_faults([{"action": "CreateKeyPair", "error": "InternalError", "nth": 1, "lose_answer": True},
                        {"kind": "not_found_after_create", "action": "DescribeKeyPairs", "seconds": 2.0}])
    creates.create_key_pair(ec2, name, tags, waits=ec2ops.Waits(delay=0.1, not_found=10.0))
    described = _faults(control, "DescribeKeyPairs")
    assert described[0] == "InvalidKeyPair.NotFound" and described[-1] is None, described
    assert len(control.requests(action="DeleteKeyPair")) == 1


def test_a_duplicate_key_pair_of_another_build_is_not_deleted(ec2: EC2Client, control: SandboxClient,
                                                             tags: dict[str, str]) -> None:
    name = f"kp-{tags[BUILD_ID_TAG]}"
    creates.create_key_pair(ec2, name, {BUILD_ID_TAG: "another-build"}, waits=WAITS)
    _lose(control, "CreateKeyPair")
    with pytest.raises(AwsError) as err:
        creates.create_key_pair(ec2, name, tags, waits=WAITS)
    assert err.value.code == "InvalidKeyPair.Duplicate"
    assert control.requests(action="DeleteKeyPair") == []


def test_an_image_registered_by_a_lost_answer_is_adopted(ec2: EC2Client, control: SandboxClient,
                                                         tags: dict[str, str]) -> None:
    snapshots = creates.create_snapshots(ec2, _stopped_instance(ec2), "for an image", tags, waits=WAITS)
    root = next(iter(snapshots.values()))
    params: RegisterImageRequestTypeDef = {
        "Name": f"image-{tags[BUILD_ID_TAG]}", "RootDeviceName": "/dev/xvda", "VirtualizationType": "hvm",
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": root}}],
        "TagSpecifications": tag_specs(["image"], {"Role": "test", **tags})}
    _lose(control, "RegisterImage")
    image_id = creates.register_image(ec2, params, waits=WAITS)
    assert _faults(control, "RegisterImage") == ["InternalError", None]
    assert [i["ImageId"] for i in ec2ops.images_named(ec2, params["Name"])] == [image_id]
    with pytest.raises(AwsError) as err:  # not retried: the name is taken, as before
        creates.register_image(ec2, params, waits=WAITS)
    assert err.value.code == "InvalidAMIName.Duplicate"


def test_the_snapshots_of_a_lost_answer_are_deleted(ec2: EC2Client, control: SandboxClient,
                                                     tags: dict[str, str]) -> None:
    """The retry made a second set; the first one (same volumes, description and build id) goes at once."""
    instance_id = _stopped_instance(ec2)
    _lose(control, "CreateSnapshots")
    made = creates.create_snapshots(ec2, instance_id, f"goldsmith test {tags[BUILD_ID_TAG]}", tags, waits=WAITS)
    assert _faults(control, "CreateSnapshots") == ["InternalError", None]
    deleted = [r["params"]["SnapshotId"] for r in control.requests(action="DeleteSnapshot")]
    assert len(deleted) == len(made) == 2 and not set(deleted) & set(made.values())
    assert _build_snapshots(ec2, tags) == set(made.values())


def test_snapshots_without_a_retry_make_no_other_call(ec2: EC2Client, control: SandboxClient,
                                                      tags: dict[str, str]) -> None:
    instance_id = _stopped_instance(ec2)
    control.reset_counts()
    made = creates.create_snapshots(ec2, instance_id, f"goldsmith test {tags[BUILD_ID_TAG]}", tags, waits=WAITS)
    assert control.counts() == {"CreateSnapshots": 1}
    assert _build_snapshots(ec2, tags) == set(made.values())


def _build_snapshots(ec2: EC2Client, tags: dict[str, str]) -> set[str]:
    found: Any = ec2.describe_snapshots(OwnerIds=["self"], Filters=[
        {"Name": f"tag:{BUILD_ID_TAG}", "Values": [tags[BUILD_ID_TAG]]}])["Snapshots"]
    return {s["SnapshotId"] for s in found}
