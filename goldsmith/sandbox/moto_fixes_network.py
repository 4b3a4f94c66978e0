"""Fix to moto 5.2.5: instances' addresses are the ones they are reachable at in the sandbox.

moto's default VPC is 172.31.0.0/16 and the public address it gives an instance is a random 54.214.x.y;
neither reaches anything. The sandbox's instances live on its own network (goldsmith.sandbox.network: a
/16 of 100.64.0.0/10 on a bridge of this host), so here every region's default VPC *is* that network: moto
allocates an instance's PrivateIpAddress in the default subnets (AWS's first four addresses of each
reserved: the host holds the first subnet's router address), and an instance whose subnet maps public
addresses gets that same address as its PublicIpAddress, which the host reaches as an EC2 client reaches a
public address. ``install`` takes the network's CIDR; without one moto's 172.31.0.0/16 stays.
"""

from __future__ import annotations

from typing import Any

from moto.ec2.models.elastic_network_interfaces import NetworkInterface
from moto.ec2.models.vpcs import VPCBackend
from moto.ec2.utils import random_public_ip

_vpc_cidr: str | None = None


def _create_default_vpc(self: Any) -> Any:
    """moto's create_default_vpc with the sandbox network instead of 172.31.0.0/16."""
    from moto.ec2.exceptions import DefaultVpcAlreadyExists

    if self.describe_vpcs(filters={"is-default": ["true"]}):
        raise DefaultVpcAlreadyExists
    vpc = self.create_vpc(cidr_block=_vpc_cidr, is_default=True)
    for zone in self.describe_availability_zones():
        self.create_default_subnet(zone.name)
    return vpc


def _check_auto_public_ip(self: NetworkInterface) -> None:
    """An auto-assigned public address is the instance's own sandbox address (moto: a random 54.214.x.y)."""
    if self.public_ip_auto_assign and str(self.public_ip_auto_assign).lower() == "true":
        self.public_ip = self.private_ip_address or random_public_ip()


def install(vpc_cidr: str | None) -> None:
    global _vpc_cidr
    if vpc_cidr is None:
        return
    _vpc_cidr = vpc_cidr
    VPCBackend.create_default_vpc = _create_default_vpc  # type: ignore[method-assign]
    NetworkInterface.check_auto_public_ip = _check_auto_public_ip  # type: ignore[method-assign]
