"""Preflight of the account against a moto server: copy regions, AMI names everywhere, subnet vs VPC, volumes
against the source image's snapshots."""

from __future__ import annotations

import pytest

from goldsmith.aws.session import Aws
from goldsmith.bake.network import build_vpc
from goldsmith.bake.steps.preflight import check_name_free, check_regions_usable, check_volumes_fit
from goldsmith.errors import AwsError, PreflightError
from goldsmith.recipe.model import Build, Volumes
from goldsmith.targets.aws import AwsTarget


def test_a_region_the_account_has_not_opted_into_is_refused(aws: Aws) -> None:
    opt_in = [r["RegionName"] for r in aws.ec2().describe_regions(AllRegions=True)["Regions"]
              if r.get("OptInStatus") == "not-opted-in"]
    assert "ap-east-1" in opt_in  # moto, like AWS, lists opt-in regions as not opted in
    check_regions_usable(aws.ec2(), ["us-west-2", "eu-west-1"])
    with pytest.raises(PreflightError, match=r"image\.regions: ap-east-1 not enabled for this account"):
        check_regions_usable(aws.ec2(), ["us-west-2", "ap-east-1"])
    with pytest.raises(PreflightError, match=r"image\.regions: mars-north-1 not available"):
        check_regions_usable(aws.ec2(), ["mars-north-1"])


def test_a_name_taken_in_a_copy_region_names_the_region_and_the_ami(aws: Aws) -> None:
    ec2 = aws.ec2("us-west-2")
    volume = ec2.create_volume(Size=8, AvailabilityZone="us-west-2a")
    snapshot = ec2.create_snapshot(VolumeId=volume["VolumeId"])["SnapshotId"]
    image_id = ec2.register_image(
        Name="taken-name", RootDeviceName="/dev/xvda", Architecture="x86_64", VirtualizationType="hvm",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}}],
    )["ImageId"]
    check_name_free(aws.ec2("us-east-1"), "taken-name", "us-east-1")
    with pytest.raises(PreflightError, match=f"'taken-name' already exists \\({image_id}\\) in us-west-2"):
        check_name_free(ec2, "taken-name", "us-west-2")


def test_the_subnet_must_be_in_the_given_vpc(aws: Aws) -> None:
    ec2 = aws.ec2()
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    other = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    assert build_vpc(ec2, Build(subnet_id=subnet, vpc_id=vpc)) == vpc
    assert build_vpc(ec2, Build(subnet_id=subnet)) == vpc
    with pytest.raises(PreflightError, match=f"{subnet} is in {vpc}, not in build.vpc_id {other}"):
        build_vpc(ec2, Build(subnet_id=subnet, vpc_id=other))


def test_builder_cidr_of_a_missing_vpc_is_an_aws_error(aws: Aws) -> None:
    build = Build(interface="private_ip")
    vpc = aws.ec2().create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    assert AwsTarget().builder_cidr(aws, vpc, build) == "10.7.0.0/16"
    with pytest.raises(AwsError, match=r"DescribeVpcs vpc-0123456789abcdef0 failed: InvalidVpcID\.NotFound"):
        AwsTarget().builder_cidr(aws, "vpc-0123456789abcdef0", build)


def test_volumes_smaller_than_the_source_snapshots_are_refused_before_launch(aws: Aws) -> None:
    """RunInstances refuses a volume smaller than its snapshot (the sandbox as AWS); preflight says so first."""
    ec2 = aws.ec2()
    flt = [{"Name": "name", "Values": ["debian-12-sandbox-amd64-*"]}]
    (base,) = ec2.describe_images(Owners=["136693071363"], Filters=flt)["Images"]
    check_volumes_fit(ec2, Volumes.model_validate({"root": {"size": 8}}), base)
    snapshot = base["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    with pytest.raises(PreflightError, match=rf"volumes.root.size: 4 GiB is smaller than the source image's "
                                             rf"/dev/xvda snapshot {snapshot} of 8 GiB: give at least 8"):
        check_volumes_fit(ec2, Volumes.model_validate({"root": {"size": 4}}), base)
    # An image whose mapping is larger than its snapshots: the snapshot's size is the limit, as on AWS.
    volume = ec2.create_volume(Size=6, AvailabilityZone="us-east-1a")
    data = ec2.create_snapshot(VolumeId=volume["VolumeId"])["SnapshotId"]
    image_id = ec2.register_image(
        Name="roomy-mapping", RootDeviceName="/dev/xvda", Architecture="x86_64", VirtualizationType="hvm",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot, "VolumeSize": 20}},
                             {"DeviceName": "/dev/sdf", "Ebs": {"SnapshotId": data, "VolumeSize": 12}}],
    )["ImageId"]
    roomy = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    check_volumes_fit(ec2, Volumes.model_validate({"root": {"size": 8}, "data": [{"device": "/dev/sdf", "size": 6}]}),
                      roomy)
    with pytest.raises(PreflightError) as info:
        check_volumes_fit(ec2, Volumes.model_validate({"root": {"size": 7},
                                                       "data": [{"device": "/dev/sdf", "size": 5}]}), roomy)
    assert str(info.value).splitlines()[1:] == [
        f"volumes.root.size: 7 GiB is smaller than the source image's /dev/xvda snapshot {snapshot} of 8 GiB: give "
        "at least 8 (AWS refuses a volume smaller than the snapshot it is made from).",
        f"volumes.data[0].size: 5 GiB is smaller than the source image's /dev/sdf snapshot {data} of 6 GiB: give "
        "at least 6 (AWS refuses a volume smaller than the snapshot it is made from).",
    ]
