"""moto_fixes_network over HTTP: the default VPC is the sandbox network, addresses and groups as on AWS."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from goldsmith.sandbox.moto_server import MotoProcess

NETWORK = "100.99.0.0/16"


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoProcess]:
    server = MotoProcess.start(base_image_name="debian-12-sandbox-amd64-20260101", vpc_cidr=NETWORK)
    yield server
    server.stop()


def client(moto: MotoProcess, region: str = "us-east-1") -> Any:
    return boto3.client("ec2", endpoint_url=moto.url, region_name=region, aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1}))


def launch(ec2: Any, **kwargs: Any) -> dict[str, Any]:
    image = ec2.describe_images(Owners=["136693071363"])["Images"][0]["ImageId"]
    instance: dict[str, Any] = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, **kwargs)["Instances"][0]
    return instance


def test_the_default_vpc_and_its_subnets_are_the_sandbox_network(moto: MotoProcess) -> None:
    ec2 = client(moto)
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    assert vpc["CidrBlock"] == NETWORK
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]
    assert subnets and all(ipaddress.ip_network(s["CidrBlock"]).subnet_of(ipaddress.ip_network(NETWORK))
                           for s in subnets)


def test_an_instance_without_subnet_or_group_gets_the_default_ones(moto: MotoProcess) -> None:
    ec2 = client(moto)
    instance = launch(ec2)
    subnet = ec2.describe_subnets(SubnetIds=[instance["SubnetId"]])["Subnets"][0]
    assert subnet["DefaultForAz"] and subnet["AvailabilityZone"] == instance["Placement"]["AvailabilityZone"]
    assert ipaddress.ip_address(instance["PrivateIpAddress"]) in ipaddress.ip_network(subnet["CidrBlock"])
    assert instance["PublicIpAddress"] == instance["PrivateIpAddress"]  # default subnets map public addresses
    assert [g["GroupName"] for g in instance["SecurityGroups"]] == ["default"]
    group = ec2.describe_security_groups(GroupIds=[instance["SecurityGroups"][0]["GroupId"]])["SecurityGroups"][0]
    assert [(p["IpProtocol"], [pair["GroupId"] for pair in p["UserIdGroupPairs"]], p["IpRanges"])
            for p in group["IpPermissions"]] == [("-1", [group["GroupId"]], [])]


def test_a_subnet_without_public_addresses_gives_none(moto: MotoProcess) -> None:
    ec2 = client(moto)
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="100.99.240.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="web", Description="web")["GroupId"]
    instance = launch(ec2, SubnetId=subnet, SecurityGroupIds=[group])
    assert instance["PrivateIpAddress"].startswith("100.99.240.") and "PublicIpAddress" not in instance
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [group]


def test_addresses_are_unique_across_regions(moto: MotoProcess) -> None:
    east, west = client(moto), client(moto, "us-west-2")
    addresses = [launch(ec2)["PrivateIpAddress"] for ec2 in (east, west, east, west)]
    assert len(set(addresses)) == 4, addresses
