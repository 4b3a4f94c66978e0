"""Each moto fix, checked with boto3 over HTTP against a real `python -m goldsmith.sandbox.moto_server`."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from goldsmith.sandbox.moto_fixes import BASE_IMAGE_OWNER
from goldsmith.sandbox.moto_server import MotoProcess

BASE_NAME = "debian-12-sandbox-amd64-20260101"
_names = itertools.count()


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoProcess]:
    server = MotoProcess.start(base_image_name=BASE_NAME)
    yield server
    server.stop()


def client(moto: MotoProcess, service: str = "ec2", region: str = "us-east-1") -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service, endpoint_url=moto.url, region_name=region, aws_access_key_id="testing",
        aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1}))


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


def base_image(ec2: Any) -> dict[str, Any]:
    wanted = [{"Name": "name", "Values": ["debian-12-sandbox-amd64-*"]}]
    images = ec2.describe_images(Owners=[BASE_IMAGE_OWNER], Filters=wanted)["Images"]
    assert len(images) == 1
    return dict(images[0])


def volumes_of(ec2: Any, instance_id: str) -> dict[str, dict[str, Any]]:
    vols = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}])
    return {v["Attachments"][0]["Device"]: v for v in vols["Volumes"]}


def launch_with_data(ec2: Any) -> str:
    run = ec2.run_instances(ImageId=base_image(ec2)["ImageId"], MinCount=1, MaxCount=1,
                            BlockDeviceMappings=[{"DeviceName": "/dev/sdf",
                                                  "Ebs": {"VolumeSize": 10, "VolumeType": "gp3"}}])
    return str(run["Instances"][0]["InstanceId"])


def register_two_disks(ec2: Any) -> tuple[str, dict[str, str]]:
    instance_id = launch_with_data(ec2)
    snaps = ec2.create_snapshots(InstanceSpecification={"InstanceId": instance_id})["Snapshots"]
    by_volume = {s["VolumeId"]: s["SnapshotId"] for s in snaps}
    by_device = {dev: by_volume[v["VolumeId"]] for dev, v in volumes_of(ec2, instance_id).items()}
    image = ec2.register_image(
        Name=unique("registered"), RootDeviceName="/dev/xvda", EnaSupport=True, BootMode="uefi",
        Architecture="x86_64", VirtualizationType="hvm",
        BlockDeviceMappings=[
            {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": by_device["/dev/xvda"], "VolumeSize": 8,
                                                "VolumeType": "gp3", "DeleteOnTermination": True}},
            {"DeviceName": "/dev/sdf", "Ebs": {"SnapshotId": by_device["/dev/sdf"], "VolumeType": "io1",
                                               "Iops": 500, "DeleteOnTermination": False}}],
        TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": "Role", "Value": "test"}]}])
    return str(image["ImageId"]), by_device


def test_base_image_is_debian_like_in_every_region(moto: MotoProcess) -> None:
    for region in ("us-east-1", "eu-central-1"):
        ec2 = client(moto, region=region)
        image = base_image(ec2)
        assert image["Name"] == BASE_NAME and image["Public"] and image["Architecture"] == "x86_64"
        assert image["RootDeviceName"] == "/dev/xvda" and image["EnaSupport"]
        [root] = image["BlockDeviceMappings"]
        assert root["DeviceName"] == "/dev/xvda"
        assert (root["Ebs"]["VolumeSize"], root["Ebs"]["VolumeType"]) == (8, "gp3")
        snap = ec2.describe_snapshots(SnapshotIds=[root["Ebs"]["SnapshotId"]])["Snapshots"][0]
        assert snap["OwnerId"] == BASE_IMAGE_OWNER and snap["VolumeSize"] == 8


def test_register_image_keeps_the_mapping(moto: MotoProcess) -> None:
    ec2 = client(moto)
    image_id, by_device = register_two_disks(ec2)
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    assert (image["RootDeviceName"], image["EnaSupport"], image["BootMode"]) == ("/dev/xvda", True, "uefi")
    assert image["Tags"] == [{"Key": "Role", "Value": "test"}]
    got = {m["DeviceName"]: m["Ebs"] for m in image["BlockDeviceMappings"]}
    assert got["/dev/xvda"]["SnapshotId"] == by_device["/dev/xvda"]
    assert (got["/dev/xvda"]["VolumeSize"], got["/dev/xvda"]["VolumeType"]) == (8, "gp3")
    assert got["/dev/sdf"]["SnapshotId"] == by_device["/dev/sdf"]
    assert (got["/dev/sdf"]["VolumeSize"], got["/dev/sdf"]["VolumeType"]) == (10, "io1")
    assert got["/dev/sdf"]["DeleteOnTermination"] is False and got["/dev/sdf"]["Encrypted"] is False


def test_register_image_rejects_a_root_without_snapshot_and_a_too_small_volume(moto: MotoProcess) -> None:
    ec2 = client(moto)
    snap = base_image(ec2)["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    with pytest.raises(ClientError) as err:
        ec2.register_image(Name=unique("bad"), RootDeviceName="/dev/sda1", BlockDeviceMappings=[
            {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snap}}])
    assert err.value.response["Error"]["Code"] == "InvalidBlockDeviceMapping"
    with pytest.raises(ClientError) as err:
        ec2.register_image(Name=unique("bad"), RootDeviceName="/dev/xvda", BlockDeviceMappings=[
            {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snap, "VolumeSize": 4}}])
    assert err.value.response["Error"]["Code"] == "InvalidBlockDeviceMapping"


def test_register_image_name_must_be_free(moto: MotoProcess) -> None:
    ec2 = client(moto)
    snap = base_image(ec2)["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    name = unique("dup")
    mapping = [{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snap}}]
    ec2.register_image(Name=name, RootDeviceName="/dev/xvda", BlockDeviceMappings=mapping)
    with pytest.raises(ClientError) as err:
        ec2.register_image(Name=name, RootDeviceName="/dev/xvda", BlockDeviceMappings=mapping)
    assert err.value.response["Error"]["Code"] == "InvalidAMIName.Duplicate"


def test_run_instances_makes_volumes_from_the_ami_snapshots(moto: MotoProcess) -> None:
    ec2 = client(moto)
    image_id, by_device = register_two_disks(ec2)
    run = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, BlockDeviceMappings=[
        {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 12}},
        {"DeviceName": "/dev/sdg", "Ebs": {"VolumeSize": 5, "Encrypted": True, "DeleteOnTermination": True}}])
    instance = run["Instances"][0]
    assert instance["RootDeviceName"] == "/dev/xvda"
    vols = volumes_of(ec2, instance["InstanceId"])
    assert set(vols) == {"/dev/xvda", "/dev/sdf", "/dev/sdg"}
    root, data, extra = vols["/dev/xvda"], vols["/dev/sdf"], vols["/dev/sdg"]
    assert (root["SnapshotId"], root["Size"], root["VolumeType"]) == (by_device["/dev/xvda"], 12, "gp3")
    assert (data["SnapshotId"], data["Size"], data["VolumeType"]) == (by_device["/dev/sdf"], 10, "io1")
    assert root["Attachments"][0]["DeleteOnTermination"] is True
    assert data["Attachments"][0]["DeleteOnTermination"] is False
    assert extra["Encrypted"] is True and not extra.get("SnapshotId") and extra["Size"] == 5


def test_run_instances_no_device_drops_an_ami_volume(moto: MotoProcess) -> None:
    ec2 = client(moto)
    image_id, _ = register_two_disks(ec2)
    run = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1,
                            BlockDeviceMappings=[{"DeviceName": "/dev/sdf", "NoDevice": ""}])
    assert set(volumes_of(ec2, run["Instances"][0]["InstanceId"])) == {"/dev/xvda"}


def test_create_image_snapshots_the_real_volumes(moto: MotoProcess) -> None:
    ec2 = client(moto)
    instance_id = launch_with_data(ec2)
    vols = volumes_of(ec2, instance_id)
    image_id = ec2.create_image(InstanceId=instance_id, Name=unique("created"), TagSpecifications=[
        {"ResourceType": "snapshot", "Tags": [{"Key": "Part", "Value": "disk"}]},
        {"ResourceType": "image", "Tags": [{"Key": "Part", "Value": "ami"}]}])["ImageId"]
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    assert image["RootDeviceName"] == "/dev/xvda" and image["Tags"] == [{"Key": "Part", "Value": "ami"}]
    got = {m["DeviceName"]: m["Ebs"] for m in image["BlockDeviceMappings"]}
    assert {d: e["VolumeSize"] for d, e in got.items()} == {"/dev/xvda": 8, "/dev/sdf": 10}
    snaps = ec2.describe_snapshots(SnapshotIds=[e["SnapshotId"] for e in got.values()])["Snapshots"]
    by_id = {s["SnapshotId"]: s for s in snaps}
    for device, ebs in got.items():
        assert by_id[ebs["SnapshotId"]]["VolumeId"] == vols[device]["VolumeId"]
        assert by_id[ebs["SnapshotId"]]["Tags"] == [{"Key": "Part", "Value": "disk"}]


def test_copy_image_makes_new_encrypted_snapshots_in_the_target_region(moto: MotoProcess) -> None:
    ec2, west = client(moto), client(moto, region="us-west-2")
    image_id, by_device = register_two_disks(ec2)
    key = client(moto, "kms", "us-west-2").create_key()["KeyMetadata"]["Arn"]
    specs = [{"ResourceType": "image", "Tags": [{"Key": "Part", "Value": "ami"}]},
             {"ResourceType": "snapshot", "Tags": [{"Key": "Part", "Value": "disk"}]}]
    copy_id = west.copy_image(SourceImageId=image_id, SourceRegion="us-east-1", Name=unique("copy"),
                              Encrypted=True, KmsKeyId=key, TagSpecifications=specs)["ImageId"]
    image = west.describe_images(ImageIds=[copy_id])["Images"][0]
    assert image["Tags"] == [{"Key": "Part", "Value": "ami"}]
    got = {m["DeviceName"]: m["Ebs"] for m in image["BlockDeviceMappings"]}
    assert set(got) == {"/dev/xvda", "/dev/sdf"} and got["/dev/sdf"]["VolumeSize"] == 10
    assert image["RootDeviceName"] == "/dev/xvda"
    for device, ebs in got.items():
        assert ebs["SnapshotId"] != by_device[device]
        snap = west.describe_snapshots(SnapshotIds=[ebs["SnapshotId"]])["Snapshots"][0]
        assert snap["Encrypted"] and snap["KmsKeyId"] == key
        assert snap["Tags"] == [{"Key": "Part", "Value": "disk"}]  # at creation, as AWS does
        expected = f"Copied for DestinationAmi {copy_id} from SourceAmi {image_id}"
        assert snap["Description"].startswith(expected)


def test_copy_image_rejects_a_key_missing_in_the_target_region(moto: MotoProcess) -> None:
    ec2, west = client(moto), client(moto, region="us-west-2")
    image_id, _ = register_two_disks(ec2)
    east_key = client(moto, "kms", "us-east-1").create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as err:
        west.copy_image(SourceImageId=image_id, SourceRegion="us-east-1", Name=unique("copy"),
                        Encrypted=True, KmsKeyId=east_key)
    assert err.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_image_deprecation_round_trip(moto: MotoProcess) -> None:
    ec2 = client(moto)
    image_id, _ = register_two_disks(ec2)
    ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt=datetime(2031, 5, 6, 7, 8, tzinfo=UTC))
    assert ec2.describe_images(ImageIds=[image_id])["Images"][0]["DeprecationTime"] == \
        "2031-05-06T07:08:00.000Z"
    ec2.disable_image_deprecation(ImageId=image_id)
    assert "DeprecationTime" not in ec2.describe_images(ImageIds=[image_id])["Images"][0]


def refused(call: Any, **params: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as err:
        call(**params)
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def test_image_deprecation_refuses_the_past_and_more_than_aws_allows(moto: MotoProcess) -> None:
    """EnableImageDeprecation: not in the past, at most 10 years ahead, for a public AMI at most 2 years
    from its creation (API reference); moto has no such action, the sandbox's own refuses as AWS does."""
    ec2 = client(moto)
    image_id, _ = register_two_disks(ec2)
    now = datetime.now(UTC)
    code, message = refused(ec2.enable_image_deprecation, ImageId=image_id, DeprecateAt=now - timedelta(minutes=5))
    assert code == "InvalidParameterValue" and "in the past" in message
    code, message = refused(ec2.enable_image_deprecation, ImageId=image_id, DeprecateAt=now + timedelta(days=3660))
    assert code == "InvalidParameterValue" and "10 years" in message
    ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt=now + timedelta(days=3650))
    ec2.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"Group": "all"}]})
    code, message = refused(ec2.enable_image_deprecation, ImageId=image_id, DeprecateAt=now + timedelta(days=740))
    assert code == "InvalidParameterValue" and "2 years" in message and image_id in message
    ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt=now + timedelta(days=730))
    assert "DeprecationTime" in ec2.describe_images(ImageIds=[image_id])["Images"][0]


def test_run_instances_refuses_the_volumes_ebs_refuses(moto: MotoProcess) -> None:
    """RunInstances: a volume smaller than its snapshot, io1/io2 without Iops, Iops on gp2, Throughput on
    anything but gp3, sizes outside the type's range (EbsBlockDevice in the API reference)."""
    ec2 = client(moto)
    base = base_image(ec2)["ImageId"]

    def launch(device: str, ebs: dict[str, Any]) -> Any:
        return ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1,
                                 BlockDeviceMappings=[{"DeviceName": device, "Ebs": ebs}])

    cases = [
        ("/dev/xvda", {"VolumeSize": 4}, "InvalidBlockDeviceMapping", "smaller than snapshot"),
        ("/dev/sdf", {"VolumeSize": 10, "VolumeType": "io1"}, "InvalidParameterCombination",
         "iops must be specified for io1"),
        ("/dev/sdf", {"VolumeSize": 10, "VolumeType": "io2"}, "InvalidParameterCombination",
         "iops must be specified for io2"),
        ("/dev/sdf", {"VolumeSize": 10, "VolumeType": "gp2", "Iops": 300}, "InvalidParameterCombination",
         "iops is not supported for gp2"),
        ("/dev/xvda", {"VolumeType": "gp2", "Throughput": 250}, "InvalidBlockDeviceMapping",
         "throughput cannot be specified with the volumeType of device '/dev/xvda'"),
        ("/dev/sdf", {"VolumeSize": 10, "VolumeType": "io1", "Iops": 500, "Throughput": 250},
         "InvalidBlockDeviceMapping", "throughput cannot be specified"),
        ("/dev/sdf", {"VolumeSize": 20, "VolumeType": "st1"}, "InvalidParameterValue", "125 to 16384"),
        ("/dev/sdf", {"VolumeSize": 10, "VolumeType": "gp3", "Iops": 20000}, "InvalidParameterValue", "3000 to 16000"),
        ("/dev/sdf", {"VolumeSize": 10, "VolumeType": "gp3", "Throughput": 2000}, "InvalidParameterValue",
         "125 to 1000"),
    ]
    before = len(ec2.describe_instances()["Reservations"])
    for device, ebs, code, message in cases:
        got_code, got_message = refused(launch, device=device, ebs=ebs)
        assert (got_code, message in got_message) == (code, True), (ebs, got_message)
    assert len(ec2.describe_instances()["Reservations"]) == before  # nothing launched
    run = launch("/dev/xvda", {"VolumeSize": 8, "VolumeType": "gp3", "Iops": 4000, "Throughput": 250})
    root = volumes_of(ec2, run["Instances"][0]["InstanceId"])["/dev/xvda"]
    assert (root["Size"], root["VolumeType"], root["Iops"]) == (8, "gp3", 4000)
    run = launch("/dev/sdf", {"VolumeSize": 10, "VolumeType": "io1", "Iops": 500})
    assert volumes_of(ec2, run["Instances"][0]["InstanceId"])["/dev/sdf"]["Iops"] == 500


def test_register_image_refuses_the_volumes_ebs_refuses(moto: MotoProcess) -> None:
    ec2 = client(moto)
    snap = base_image(ec2)["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    for ebs, code in (({"SnapshotId": snap, "VolumeType": "io1"}, "InvalidParameterCombination"),
                      ({"SnapshotId": snap, "VolumeType": "gp2", "Throughput": 200}, "InvalidBlockDeviceMapping")):
        assert refused(ec2.register_image, Name=unique("bad-ebs"), RootDeviceName="/dev/xvda",
                       BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": ebs}])[0] == code


def test_snapshot_permission_structured_form_and_in_use_guard(moto: MotoProcess) -> None:
    ec2 = client(moto)
    image_id, by_device = register_two_disks(ec2)
    snap = by_device["/dev/sdf"]
    add = {"Add": [{"UserId": "111122223333"}, {"Group": "all"}]}
    ec2.modify_snapshot_attribute(SnapshotId=snap, Attribute="createVolumePermission",
                                  CreateVolumePermission=add)
    perms = ec2.describe_snapshot_attribute(SnapshotId=snap, Attribute="createVolumePermission")
    assert sorted(map(str, perms["CreateVolumePermissions"])) == sorted(
        map(str, [{"Group": "all"}, {"UserId": "111122223333"}]))
    ec2.modify_snapshot_attribute(SnapshotId=snap, Attribute="createVolumePermission",
                                  CreateVolumePermission={"Remove": [{"Group": "all"}]})
    perms = ec2.describe_snapshot_attribute(SnapshotId=snap, Attribute="createVolumePermission")
    assert perms["CreateVolumePermissions"] == [{"UserId": "111122223333"}]
    with pytest.raises(ClientError) as err:
        ec2.delete_snapshot(SnapshotId=snap)
    assert err.value.response["Error"]["Code"] == "InvalidSnapshot.InUse"
    ec2.deregister_image(ImageId=image_id)
    ec2.delete_snapshot(SnapshotId=snap)


def test_describe_regions_lists_only_the_accounts_partition(moto: MotoProcess) -> None:
    """A commercial account's DescribeRegions names no GovCloud or China region (moto's lists them)."""
    names = {r["RegionName"] for r in client(moto).describe_regions()["Regions"]}
    assert {"us-east-1", "us-west-2", "eu-west-1"} <= names
    assert not [n for n in names if n.startswith(("cn-", "us-gov-", "us-iso"))], names


def test_a_resources_tags_are_its_own_in_the_same_order_as_describe_tags(moto: MotoProcess) -> None:
    """moto_fixes_speed reads a resource's tags directly instead of scanning the region's: every answer that
    carries tags must say what DescribeTags says of that resource, and nothing of its neighbours."""
    ec2 = client(moto)
    tagged = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1, TagSpecifications=[
        {"ResourceType": "volume", "Tags": [{"Key": "z", "Value": "1"}, {"Key": "a", "Value": "2"}]}])["VolumeId"]
    neighbour = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1, TagSpecifications=[
        {"ResourceType": "volume", "Tags": [{"Key": "z", "Value": "other"}]}])["VolumeId"]
    bare = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
    ec2.create_tags(Resources=[tagged], Tags=[{"Key": "m", "Value": "3"}])
    volumes = {v["VolumeId"]: v for v in ec2.describe_volumes(VolumeIds=[tagged, neighbour, bare])["Volumes"]}
    described = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [tagged]}])["Tags"]
    assert volumes[tagged]["Tags"] == [{"Key": t["Key"], "Value": t["Value"]} for t in described]
    assert [t["Key"] for t in volumes[tagged]["Tags"]] == ["z", "a", "m"]
    assert volumes[neighbour]["Tags"] == [{"Key": "z", "Value": "other"}]
    assert not volumes[bare].get("Tags")
    image = base_image(ec2)["ImageId"]  # another kind of resource, through the same accessor
    ec2.create_tags(Resources=[image], Tags=[{"Key": "speed", "Value": "fix"}])
    [shown] = ec2.describe_images(ImageIds=[image])["Images"]
    assert {"Key": "speed", "Value": "fix"} in shown["Tags"]
