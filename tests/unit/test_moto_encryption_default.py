"""EBS encryption by default, as AWS does it, in the sandbox's moto (checked with boto3 over HTTP).

AWS: when an account turns EBS encryption by default on in a region, every new volume there is
encrypted with the region's default EBS key (GetEbsDefaultKmsKeyId; the AWS managed aws/ebs until
changed), so snapshots and AMIs made from them are encrypted too, and an encrypted AMI copied into a
region without a KmsKeyId gets that region's default key. moto 5.2.5 ignores the setting and lacks
GetEbsDefaultKmsKeyId.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from goldsmith.sandbox.moto_server import MotoProcess
from tests.unit.test_moto_fixes import BASE_NAME, base_image, client, volumes_of


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoProcess]:
    server = MotoProcess.start(base_image_name=BASE_NAME)
    yield server
    server.stop()


def _alias_arn(kms: Any, alias: str) -> str:
    return str(kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"])


def test_new_volumes_follow_encryption_by_default_with_the_default_key(moto: MotoProcess) -> None:
    ec2, kms = client(moto, region="eu-west-1"), client(moto, "kms", region="eu-west-1")
    assert ec2.get_ebs_encryption_by_default()["EbsEncryptionByDefault"] is False
    ec2.enable_ebs_encryption_by_default()
    default = ec2.get_ebs_default_kms_key_id()["KmsKeyId"]
    assert default == _alias_arn(kms, "alias/aws/ebs")
    assert kms.describe_key(KeyId=default)["KeyMetadata"]["KeyManager"] == "AWS"  # it cannot be shared
    run = ec2.run_instances(ImageId=base_image(ec2)["ImageId"], MinCount=1, MaxCount=1,
                            BlockDeviceMappings=[{"DeviceName": "/dev/sdf",
                                                  "Ebs": {"VolumeSize": 4, "VolumeType": "gp3"}}])
    instance_id = run["Instances"][0]["InstanceId"]
    volumes = volumes_of(ec2, instance_id)
    assert {d: (v["Encrypted"], v.get("KmsKeyId")) for d, v in volumes.items()} == {
        "/dev/xvda": (True, default), "/dev/sdf": (True, default)}
    snapshot = ec2.create_snapshot(VolumeId=volumes["/dev/sdf"]["VolumeId"])
    assert (snapshot["Encrypted"], snapshot.get("KmsKeyId")) == (True, default)
    plain = ec2.create_volume(AvailabilityZone="eu-west-1a", Size=1)
    assert plain["Encrypted"] is True


def test_a_customer_key_made_default_is_used_and_copies_into_the_region_get_it(moto: MotoProcess) -> None:
    east, west = client(moto, region="us-east-1"), client(moto, region="us-west-1")
    kms = client(moto, "kms", region="us-west-1")
    mine = kms.create_key(Description="team key")["KeyMetadata"]["Arn"]
    west.enable_ebs_encryption_by_default()
    west.modify_ebs_default_kms_key_id(KmsKeyId=mine)
    assert west.get_ebs_default_kms_key_id()["KmsKeyId"] == mine
    source = base_image(east)
    copied = west.copy_image(SourceImageId=source["ImageId"], SourceRegion="us-east-1", Name="copy-by-default")
    image = west.describe_images(ImageIds=[copied["ImageId"]])["Images"][0]
    snapshot_id = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    snapshot = west.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]
    assert (snapshot["Encrypted"], snapshot.get("KmsKeyId")) == (True, mine)


def test_without_encryption_by_default_volumes_stay_plain(moto: MotoProcess) -> None:
    ec2 = client(moto, region="ap-south-1")
    run = ec2.run_instances(ImageId=base_image(ec2)["ImageId"], MinCount=1, MaxCount=1)
    volumes = volumes_of(ec2, run["Instances"][0]["InstanceId"])
    assert [v["Encrypted"] for v in volumes.values()] == [False]
