"""The real AWS target: boto3's credential chain, the instance's address per build.interface."""

from __future__ import annotations

import ipaddress
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from goldsmith.aws.calls import aws_call
from goldsmith.aws.ec2 import Waits
from goldsmith.aws.polling import AWS_POLLS
from goldsmith.aws.session import Aws, AwsSettings
from goldsmith.errors import PreflightError, SshError

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import InstanceTypeDef, VpcTypeDef

    from goldsmith.recipe.model import Build

CHECKIP_URL = "https://checkip.amazonaws.com"
_ADDRESS_KEY: dict[str, Literal["PublicIpAddress", "PrivateIpAddress", "PublicDnsName", "PrivateDnsName"]] = {
    "public_ip": "PublicIpAddress",
    "private_ip": "PrivateIpAddress",
    "public_dns": "PublicDnsName",
    "private_dns": "PrivateDnsName",
}  # build.interface -> the DescribeInstances field


@dataclass
class AwsTarget:
    region: str | None = None
    profile: str | None = None
    name: str = "aws"
    checks_permissions: bool = True

    def aws_settings(self) -> AwsSettings:
        return AwsSettings(region=self.region, profile=self.profile)

    def waits(self, build: Build) -> Waits:
        """Each kind of wait on its own schedule (goldsmith.aws.polling.AWS_POLLS: under ~10 % lost per wait,
        well inside EC2's request limits for ten bakes at once); 2 s between eventual-consistency retries."""
        t = build.timeouts
        return Waits(delay=AWS_POLLS.other.least, instance=600.0, stop=t.stop, snapshot=t.snapshot, image=t.image,
                     polls=AWS_POLLS)

    def builder_cidrs(self, aws: Aws, vpc_id: str, build: Build) -> list[str]:
        """build.ssh_cidr; else, reached privately (or through a bastion), every IPv4 CIDR block of the VPC
        (its secondary ones too); else this machine's public /32."""
        if build.ssh_cidr:
            return [build.ssh_cidr]
        if build.interface.startswith("private") or build.bastion is not None:
            vpc = self._vpc(aws, vpc_id)
            blocks = [a["CidrBlock"] for a in vpc.get("CidrBlockAssociationSet", [])
                      if a.get("CidrBlockState", {}).get("State") == "associated"]
            return blocks or [str(vpc["CidrBlock"])]
        return [self.builder_cidr(aws, vpc_id, build)]

    @staticmethod
    def _vpc(aws: Aws, vpc_id: str) -> VpcTypeDef:
        with aws_call("DescribeVpcs", vpc_id):
            vpcs = aws.ec2().describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
        if not vpcs:
            raise PreflightError(f"VPC {vpc_id} does not exist in this region: check build.vpc_id/subnet_id.")
        return vpcs[0]

    def builder_cidr(self, aws: Aws, vpc_id: str, build: Build) -> str:
        """The primary range: our public address for public interfaces; the VPC's CIDR when we reach it privately."""
        if build.interface.startswith("private") or build.bastion is not None:
            return str(self._vpc(aws, vpc_id)["CidrBlock"])
        try:
            with urllib.request.urlopen(CHECKIP_URL, timeout=10) as resp:
                address = resp.read().decode().strip()
            ipaddress.ip_address(address)
        except (OSError, ValueError) as exc:
            raise PreflightError(
                f"Could not detect this machine's public address from {CHECKIP_URL} ({exc}); use a private "
                "interface (build.interface: private_ip) or a bastion."
            ) from exc
        return f"{address}/32"

    def ssh_endpoint(self, aws: Aws, instance: InstanceTypeDef, build: Build) -> tuple[str, int]:
        return instance_endpoint(instance, build)


def instance_endpoint(instance: InstanceTypeDef, build: Build) -> tuple[str, int]:
    """The instance's address per build.interface (as DescribeInstances reports it) and build.ssh_port."""
    key = _ADDRESS_KEY[build.interface]
    host = instance.get(key)
    if not host:
        raise SshError(
            f"instance {instance.get('InstanceId')} has no {key} (build.interface: {build.interface}); "
            "pick another interface or a subnet that assigns one."
        )
    return str(host), build.ssh_port
