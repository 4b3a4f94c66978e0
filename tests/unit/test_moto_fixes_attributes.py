"""AMI attributes and fields as other AMI tools set and read them (goldsmith/sandbox/moto_fixes_attributes.py,
the gp3 throughput in moto_fixes_ebs.py, DeleteAssociatedSnapshots in moto_fixes_deregister.py), checked with
boto3 over HTTP against a real moto server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from goldsmith.sandbox.moto_fixes import BASE_IMAGE_OWNER
from goldsmith.sandbox.moto_server import MotoProcess
from tests.unit.test_moto_fixes import BASE_NAME, base_image, client, refused, register_two_disks, unique, volumes_of


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoProcess]:
    server = MotoProcess.start(base_image_name=BASE_NAME)
    yield server
    server.stop()


def describe(ec2: Any, image_id: str) -> dict[str, Any]:
    return dict(ec2.describe_images(ImageIds=[image_id])["Images"][0])


def attribute(ec2: Any, image_id: str, name: str) -> dict[str, Any]:
    answer = dict(ec2.describe_image_attribute(ImageId=image_id, Attribute=name))
    answer.pop("ResponseMetadata")
    return answer


def test_modify_image_attribute_changes_the_description_in_both_forms(moto: MotoProcess) -> None:
    """ModifyImageAttribute's Description.Value and its Attribute=description + Value form (moto answered 200
    and kept the old description); a launch permission in the same call still applies."""
    ec2 = client(moto)
    image_id, _ = register_two_disks(ec2)
    ec2.modify_image_attribute(ImageId=image_id, Description={"Value": "baked by another tool"},
                               LaunchPermission={"Add": [{"UserId": "111122223333"}]})
    assert describe(ec2, image_id)["Description"] == "baked by another tool"
    assert attribute(ec2, image_id, "description")["Description"] == {"Value": "baked by another tool"}
    assert attribute(ec2, image_id, "launchPermission")["LaunchPermissions"] == [{"UserId": "111122223333"}]
    ec2.modify_image_attribute(ImageId=image_id, Attribute="description", Value="second form")
    assert describe(ec2, image_id)["Description"] == "second form"
    code, _ = refused(ec2.modify_image_attribute, ImageId="ami-0000000000000000f", Description={"Value": "x"})
    assert code == "InvalidAMIID.NotFound"


def test_imds_support_is_set_once_to_v2_and_read_back(moto: MotoProcess) -> None:
    """ImdsSupport: unset reads as no Value; v2.0 is the only value AWS takes; DescribeImages shows it."""
    ec2 = client(moto)
    image_id = ec2.create_image(InstanceId=launch(ec2), Name=unique("imds"))["ImageId"]
    assert attribute(ec2, image_id, "imdsSupport") == {"ImageId": image_id, "ImdsSupport": {}}
    assert refused(ec2.modify_image_attribute, ImageId=image_id, ImdsSupport={"Value": "v1.0"})[0] == \
        "InvalidParameterValue"
    ec2.modify_image_attribute(ImageId=image_id, ImdsSupport={"Value": "v2.0"})
    assert attribute(ec2, image_id, "imdsSupport")["ImdsSupport"] == {"Value": "v2.0"}
    assert describe(ec2, image_id)["ImdsSupport"] == "v2.0"


def metadata_options(ec2: Any, instance_id: str) -> tuple[str, int]:
    (reservation,) = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    options = reservation["Instances"][0]["MetadataOptions"]
    return options["HttpTokens"], options["HttpPutResponseHopLimit"]


def test_instances_of_an_imds_v2_ami_require_imds_v2(moto: MotoProcess) -> None:
    """RegisterImage/ModifyImageAttribute ImdsSupport v2.0: its instances get HttpTokens required and a hop
    limit of 2, unless the launch's MetadataOptions say otherwise; other AMIs' instances keep the defaults."""
    ec2 = client(moto)
    assert metadata_options(ec2, launch(ec2)) == ("optional", 1)
    image_id = ec2.create_image(InstanceId=launch(ec2), Name=unique("imds-v2"))["ImageId"]
    ec2.modify_image_attribute(ImageId=image_id, ImdsSupport={"Value": "v2.0"})
    assert metadata_options(ec2, launch(ec2, image_id=image_id)) == ("required", 2)
    run = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1,
                            MetadataOptions={"HttpTokens": "optional", "HttpPutResponseHopLimit": 1})
    assert metadata_options(ec2, run["Instances"][0]["InstanceId"]) == ("optional", 1)


def test_describe_image_attribute_answers_what_moto_failed(moto: MotoProcess) -> None:
    """ramdisk has no Value (moto: HTTP 500); an unknown AMI is InvalidAMIID.NotFound (moto: HTTP 500)."""
    ec2 = client(moto)
    image_id, _ = register_two_disks(ec2)
    assert attribute(ec2, image_id, "ramdisk") == {"ImageId": image_id, "RamdiskId": {}}
    for name in ("description", "imdsSupport", "launchPermission"):
        with pytest.raises(ClientError) as err:
            ec2.describe_image_attribute(ImageId="ami-0000000000000000f", Attribute=name)
        assert err.value.response["Error"]["Code"] == "InvalidAMIID.NotFound", name


def launch(ec2: Any, mappings: list[dict[str, Any]] | None = None, image_id: str | None = None) -> str:
    run = ec2.run_instances(ImageId=image_id or base_image(ec2)["ImageId"], MinCount=1, MaxCount=1,
                            BlockDeviceMappings=mappings or [])
    return str(run["Instances"][0]["InstanceId"])


def test_gp3_throughput_goes_from_launch_to_volume_image_copy_and_next_launch(moto: MotoProcess) -> None:
    """A gp3 volume has a throughput (125 MiB/s unless asked, like its 3000 IOPS); CreateImage records each
    volume's Iops and Throughput in the AMI's mapping, CopyImage keeps them, and a launch from the AMI gets
    them (moto dropped Throughput everywhere)."""
    ec2, west = client(moto), client(moto, region="us-west-2")
    instance_id = launch(ec2, [
        {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "VolumeType": "gp3", "Throughput": 250}},
        {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 10, "VolumeType": "gp3", "Iops": 4000}}])
    vols = volumes_of(ec2, instance_id)
    assert {d: (v["Iops"], v["Throughput"]) for d, v in vols.items()} == {"/dev/xvda": (3000, 250),
                                                                         "/dev/sdf": (4000, 125)}
    image_id = ec2.create_image(InstanceId=instance_id, Name=unique("gp3"))["ImageId"]
    wanted = {"/dev/xvda": (3000, 250), "/dev/sdf": (4000, 125)}
    got = {m["DeviceName"]: (m["Ebs"]["Iops"], m["Ebs"]["Throughput"]) for m in describe(ec2, image_id)[
        "BlockDeviceMappings"]}
    assert got == wanted
    copy_id = west.copy_image(SourceImageId=image_id, SourceRegion="us-east-1", Name=unique("gp3"))["ImageId"]
    got = {m["DeviceName"]: (m["Ebs"]["Iops"], m["Ebs"]["Throughput"]) for m in describe(west, copy_id)[
        "BlockDeviceMappings"]}
    assert got == wanted
    again = volumes_of(ec2, launch(ec2, image_id=image_id))
    assert {d: (v["Iops"], v["Throughput"]) for d, v in again.items()} == wanted


def test_register_image_keeps_a_given_throughput(moto: MotoProcess) -> None:
    ec2 = client(moto)
    snap = base_image(ec2)["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    image_id = ec2.register_image(Name=unique("reg-gp3"), RootDeviceName="/dev/xvda", BlockDeviceMappings=[
        {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snap, "VolumeType": "gp3", "Throughput": 500}}])["ImageId"]
    (root,) = describe(ec2, image_id)["BlockDeviceMappings"]
    assert root["Ebs"]["Throughput"] == 500


def test_describe_images_shows_where_an_ami_comes_from(moto: MotoProcess) -> None:
    """ImageLocation (owner/name), Hypervisor xen, and SourceImageId/SourceImageRegion only for CreateImage
    and CopyImage (Image in the EC2 API reference)."""
    ec2, west = client(moto), client(moto, region="us-west-2")
    base = base_image(ec2)
    assert (base["ImageLocation"], base["Hypervisor"]) == (f"{BASE_IMAGE_OWNER}/{BASE_NAME}", "xen")
    registered_id, _ = register_two_disks(ec2)
    registered = describe(ec2, registered_id)
    assert registered["ImageLocation"] == f"123456789012/{registered['Name']}"
    assert "SourceImageId" not in registered and "SourceImageRegion" not in registered
    created_name = unique("made")
    created = describe(ec2, ec2.create_image(InstanceId=launch(ec2), Name=created_name)["ImageId"])
    assert (created["SourceImageId"], created["SourceImageRegion"]) == (base["ImageId"], "us-east-1")
    assert (created["ImageLocation"], created["Hypervisor"]) == (f"123456789012/{created_name}", "xen")
    copied = describe(west, west.copy_image(SourceImageId=created["ImageId"], SourceRegion="us-east-1",
                                            Name=unique("copied"))["ImageId"])
    assert (copied["SourceImageId"], copied["SourceImageRegion"]) == (created["ImageId"], "us-east-1")


def test_copy_image_tags_and_copied_snapshot_volume_ids(moto: MotoProcess) -> None:
    """CopyImageTags copies the AMI's user tags (by default none are); a copied snapshot's VolumeId is
    vol-ffffffff, for CopyImage and CopySnapshot alike."""
    ec2, west = client(moto), client(moto, region="us-west-2")
    image_id, by_device = register_two_disks(ec2)
    ec2.create_tags(Resources=[image_id], Tags=[{"Key": "Team", "Value": "platform"}])
    plain = describe(west, west.copy_image(SourceImageId=image_id, SourceRegion="us-east-1",
                                           Name=unique("plain"))["ImageId"])
    assert plain["Tags"] == []
    tagged = describe(west, west.copy_image(
        SourceImageId=image_id, SourceRegion="us-east-1", Name=unique("tagged"), CopyImageTags=True,
        TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": "Region", "Value": "west"}]}])["ImageId"])
    assert sorted((t["Key"], t["Value"]) for t in tagged["Tags"]) == [
        ("Region", "west"), ("Role", "test"), ("Team", "platform")]
    copied_snaps = [m["Ebs"]["SnapshotId"] for m in tagged["BlockDeviceMappings"]]
    snap_copy = west.copy_snapshot(SourceSnapshotId=by_device["/dev/sdf"], SourceRegion="us-east-1")["SnapshotId"]
    shown = west.describe_snapshots(SnapshotIds=[*copied_snaps, snap_copy])["Snapshots"]
    assert {s["VolumeId"] for s in shown} == {"vol-ffffffff"}
    originals = ec2.describe_snapshots(SnapshotIds=list(by_device.values()))["Snapshots"]
    assert all(s["VolumeId"].startswith("vol-") and s["VolumeId"] != "vol-ffffffff" for s in originals)


def test_deregister_image_deletes_associated_snapshots_not_shared_ones(moto: MotoProcess) -> None:
    """DeregisterImage DeleteAssociatedSnapshots: the AMI's snapshots go with it (ReturnCode success), except
    one another AMI also uses (skipped); without it every snapshot stays (moto ignored the parameter)."""
    ec2 = client(moto)
    image_id, by_device = register_two_disks(ec2)
    other = ec2.register_image(Name=unique("shares-root"), RootDeviceName="/dev/xvda", BlockDeviceMappings=[
        {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": by_device["/dev/xvda"]}}])["ImageId"]
    answer = ec2.deregister_image(ImageId=image_id, DeleteAssociatedSnapshots=True)
    assert answer["Return"] is True
    assert sorted((r["SnapshotId"], r["ReturnCode"]) for r in answer["DeleteSnapshotResults"]) == sorted(
        [(by_device["/dev/xvda"], "skipped"), (by_device["/dev/sdf"], "success")])
    left = ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
    assert by_device["/dev/xvda"] in {s["SnapshotId"] for s in left}
    assert by_device["/dev/sdf"] not in {s["SnapshotId"] for s in left}
    plain = ec2.deregister_image(ImageId=other)
    assert plain["Return"] is True and not plain.get("DeleteSnapshotResults")
    assert ec2.describe_snapshots(SnapshotIds=[by_device["/dev/xvda"]])["Snapshots"]
    assert refused(ec2.deregister_image, ImageId=image_id, DeleteAssociatedSnapshots=True)[0] == \
        "InvalidAMIID.Unavailable"


def test_create_image_block_device_mappings_leave_out_change_and_add_volumes(moto: MotoProcess) -> None:
    """CreateImage BlockDeviceMappings (moto ignored them): NoDevice leaves an instance volume out of the AMI,
    DeleteOnTermination is changed, a device the instance lacks is added as an empty EBS volume; the root
    volume cannot be left out."""
    ec2 = client(moto)
    instance_id = launch(ec2, [{"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 10, "VolumeType": "gp3"}},
                               {"DeviceName": "/dev/sdg", "Ebs": {"VolumeSize": 3, "VolumeType": "gp2"}}])
    image_id = ec2.create_image(InstanceId=instance_id, Name=unique("bdm"), BlockDeviceMappings=[
        {"DeviceName": "/dev/sdg", "NoDevice": ""},
        {"DeviceName": "/dev/sdf", "Ebs": {"DeleteOnTermination": False}},
        {"DeviceName": "/dev/sdh", "Ebs": {"VolumeSize": 4, "VolumeType": "gp3", "Throughput": 300}}])["ImageId"]
    got = {m["DeviceName"]: m["Ebs"] for m in describe(ec2, image_id)["BlockDeviceMappings"]}
    assert set(got) == {"/dev/xvda", "/dev/sdf", "/dev/sdh"}
    assert got["/dev/xvda"]["DeleteOnTermination"] is True and got["/dev/sdf"]["DeleteOnTermination"] is False
    assert (got["/dev/sdf"]["VolumeSize"], got["/dev/sdf"]["SnapshotId"][:5]) == (10, "snap-")
    added = got["/dev/sdh"]
    assert "SnapshotId" not in added
    assert (added["VolumeSize"], added["VolumeType"], added["Throughput"]) == (4, "gp3", 300)
    again = volumes_of(ec2, launch(ec2, image_id=image_id))
    assert (again["/dev/sdh"]["Size"], again["/dev/sdh"].get("SnapshotId")) == (4, None)
    code, _ = refused(ec2.create_image, InstanceId=instance_id, Name=unique("bdm"),
                      BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "NoDevice": ""}])
    assert code == "InvalidBlockDeviceMapping"
