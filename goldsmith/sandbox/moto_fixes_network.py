"""Fixes to moto 5.2.5: instances' addresses and security groups are the ones the sandbox enforces.

moto's default VPC is 172.31.0.0/16, an instance launched without a subnet gets a random 10.x address
outside every subnet, its public address is a random 54.214.x.y, it gets no security group at all, and a
VPC's default group allows nothing in. AWS does otherwise, and the sandbox reaches and filters instances
by what moto says. The sandbox's instances live on its own network (goldsmith.sandbox.network: a /16 of
100.64.0.0/10 on a bridge of this host), so here, as on AWS:

- every region's default VPC *is* that network, its default subnets /20s of it (AWS's first four
  addresses of each reserved; the host holds the first subnet's router address);
- an instance launched without a subnet gets one of its zone's default subnet (an address in it);
- an instance whose subnet maps public addresses gets its own address as PublicIpAddress too, which the
  host reaches as an EC2 client reaches a public address;
- an address is unique across regions (every region's default VPC is the same network here, and one
  host carries them all);
- an instance launched without groups is in its VPC's default group, and a default group lets in
  everything from its own members (and nothing else).

``install`` takes the network's CIDR; without one moto's behaviour stays.
"""

from __future__ import annotations

from typing import Any

from moto.ec2.models.elastic_network_interfaces import NetworkInterface
from moto.ec2.models.instances import InstanceBackend
from moto.ec2.models.security_groups import SecurityGroupBackend
from moto.ec2.models.subnets import Subnet
from moto.ec2.models.vpcs import VPCBackend

_vpc_cidr: str | None = None
_orig_run_instances: Any = None
_orig_create_security_group: Any = None
_orig_get_available_subnet_ip: Any = None


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
        self.public_ip = self.private_ip_address


def _get_available_subnet_ip(self: Subnet, instance: Any) -> str:
    """moto's next free address of the subnet, skipping those instances of other regions hold."""
    taken = _addresses_in_other_regions(self.ec2_backend)
    while True:
        address: str = _orig_get_available_subnet_ip(self, instance)
        if address not in taken:
            return address


def _addresses_in_other_regions(backend: Any) -> set[str]:
    from moto.ec2.models import ec2_backends

    regions = ec2_backends[backend.account_id]
    others = [b for region, b in dict.items(regions) if region != backend.region_name]
    return {i.private_ip for b in others for r in b.reservations.values() for i in r.instances
            if i.private_ip and i.state != "terminated"}


def _run_instances(self: Any, image_id: str, count: int, user_data: Any, security_group_names: list[str],
                   **kwargs: Any) -> Any:
    """RunInstances without a subnet or groups: the zone's default subnet and the VPC's default group."""
    nics = kwargs.get("nics") or []
    if not nics and not kwargs.get("subnet_id"):
        zone = kwargs.get("placement") or f"{self.region_name}a"
        subnet = self.get_default_subnets().get(zone)
        if subnet is not None:
            kwargs["subnet_id"] = subnet.id
    if not nics and not security_group_names and not kwargs.get("security_group_ids") \
            and not (kwargs.get("launch_template") or {}):
        vpc_id = self.get_subnet(kwargs["subnet_id"]).vpc_id if kwargs.get("subnet_id") else None
        default = self.get_default_security_group(vpc_id)
        if default is not None:
            kwargs["security_group_ids"] = [default.id]
    return _orig_run_instances(self, image_id, count, user_data, security_group_names, **kwargs)


def _create_security_group(self: Any, name: str, description: str, vpc_id: str | None = None,
                           tags: dict[str, str] | None = None, force: bool = False,
                           is_default: bool | None = None) -> Any:
    """A VPC's default group, as AWS makes it: all traffic from its own members allowed in."""
    group = _orig_create_security_group(self, name, description, vpc_id=vpc_id, tags=tags, force=force,
                                        is_default=is_default)
    if is_default:
        self.authorize_security_group_ingress(group.id, "-1", None, None, [], source_groups=[{"GroupId": group.id}],
                                              vpc_id=vpc_id)
    return group


def install(vpc_cidr: str | None) -> None:
    """Patch moto (once, by moto_fixes.apply_all, last: it wraps the RunInstances the other fixes installed)."""
    global _vpc_cidr, _orig_run_instances, _orig_create_security_group, _orig_get_available_subnet_ip
    if vpc_cidr is None:
        return
    _vpc_cidr = vpc_cidr
    _orig_run_instances = InstanceBackend.run_instances
    _orig_create_security_group = SecurityGroupBackend.create_security_group
    _orig_get_available_subnet_ip = Subnet.get_available_subnet_ip
    Subnet.get_available_subnet_ip = _get_available_subnet_ip  # type: ignore[method-assign]
    VPCBackend.create_default_vpc = _create_default_vpc  # type: ignore[method-assign]
    NetworkInterface.check_auto_public_ip = _check_auto_public_ip  # type: ignore[method-assign]
    InstanceBackend.run_instances = _run_instances  # type: ignore[method-assign]
    SecurityGroupBackend.create_security_group = _create_security_group  # type: ignore[method-assign]
