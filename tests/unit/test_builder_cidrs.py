"""Where SSH is opened from: build.ssh_cidr, every CIDR block of the VPC for private interfaces, and a
clear error for IPv6-only subnets (moto server over HTTP)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from goldsmith.aws import ec2 as ec2ops
from goldsmith.aws.session import Aws
from goldsmith.errors import PreflightError
from goldsmith.recipe.model import Build
from goldsmith.sandbox.credentials import Credentials
from goldsmith.sandbox.manage import SandboxInfo
from goldsmith.targets.aws import AwsTarget
from goldsmith.targets.sandbox import SandboxTarget


def test_private_interfaces_open_ssh_to_every_ipv4_block_of_the_vpc(aws: Aws) -> None:
    ec2 = aws.ec2()
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    ec2.associate_vpc_cidr_block(VpcId=vpc, CidrBlock="100.64.0.0/16")  # a secondary block
    assert AwsTarget().builder_cidrs(aws, vpc, Build(interface="private_ip")) == ["10.20.0.0/16", "100.64.0.0/16"]


def test_ssh_cidr_overrides_the_detected_address(aws: Aws, tmp_path: Path) -> None:
    build = Build(ssh_cidr="203.0.113.7")
    assert build.ssh_cidr == "203.0.113.7/32"
    assert AwsTarget().builder_cidrs(aws, "vpc-0123456789abcdef0", build) == ["203.0.113.7/32"]
    assert SandboxTarget(state_dir=tmp_path).builder_cidrs(aws, "vpc-0123456789abcdef0", build) == ["203.0.113.7/32"]


def test_the_sandbox_opens_ssh_to_the_hosts_address_on_its_network(aws: Aws, tmp_path: Path) -> None:
    info = SandboxInfo(tmp_path, 1, "http://127.0.0.1:1", 2, str(tmp_path / "moto.sock"), "us-east-1", 0.0,
                       Credentials("AKIAEXAMPLE", "secret"), "100.77.0.0/16", "100.77.0.1")
    target = SandboxTarget(state_dir=tmp_path, _info=info)
    assert target.builder_cidrs(aws, "vpc-0123456789abcdef0", Build()) == ["100.77.0.1/32"]
    vpc = aws.ec2().create_vpc(CidrBlock="100.78.0.0/16")["Vpc"]["VpcId"]
    assert target.builder_cidrs(aws, vpc, Build(interface="private_ip")) == ["100.78.0.0/16"]  # as on AWS


@pytest.mark.parametrize(("value", "message"), [("::/0", "whole internet"), ("10.0.0.300/8", "not an address range")])
def test_ssh_cidr_is_checked(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Build(ssh_cidr=value)


def test_an_ipv6_only_subnet_is_refused_before_launch(aws: Aws) -> None:
    ec2 = aws.ec2()
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]["VpcId"]
    block = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]
    subnet = ec2.create_subnet(VpcId=vpc, Ipv6Native=True, Ipv6CidrBlock=block.replace("/56", "/64"))["Subnet"]
    with pytest.raises(PreflightError, match="is IPv6-only"):
        ec2ops.subnet_vpc(ec2, subnet["SubnetId"])


@pytest.mark.parametrize(("interface", "expected"), [("public_ip", "100.77.0.9"), ("private_dns", "100.77.0.8"),
                                                     ("public_dns", "100.77.0.9"), ("private_ip", "100.77.0.8")])
def test_the_sandbox_reaches_an_instance_at_the_address_its_interface_names(aws: Aws, tmp_path: Path, interface: str,
                                                                           expected: str) -> None:
    target = SandboxTarget(state_dir=tmp_path, _info=None)
    instance: Any = {"InstanceId": "i-1", "PrivateIpAddress": "100.77.0.8", "PublicIpAddress": "100.77.0.9",
                     "PrivateDnsName": "ip-100-77-0-8.ec2.internal", "PublicDnsName": "ec2-100-77-0-9.compute"}
    assert target.ssh_endpoint(aws, instance, Build(interface=interface, ssh_port=2222)) == (expected, 2222)
