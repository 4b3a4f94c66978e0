"""Security groups as the host enforces them: each instance's ingress rules, from moto's records.

AWS lets into an instance what any of its groups allows: from CIDR ranges (IpRanges), or from the instances
of another group (UserIdGroupPairs, resolved here to those instances' addresses). IPv6 ranges and prefix
lists are not modelled (the sandbox network is IPv4 only): such rules allow nothing here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from goldsmith.sandbox.network import IngressRule


def group_members(groups: Mapping[str, Iterable[str]], addresses: Mapping[str, str | None]) -> dict[str, list[str]]:
    """Group id -> the addresses of the instances in it (instance id -> its groups, instance id -> its address)."""
    members: dict[str, list[str]] = {}
    for instance_id, ids in groups.items():
        address = addresses.get(instance_id)
        for group_id in ids:
            if address:
                members.setdefault(group_id, []).append(address)
    return members


def ingress_rules(permissions: Iterable[Mapping[str, Any]], members: Mapping[str, list[str]]) -> list[IngressRule]:
    """IpPermissions of an instance's groups (DescribeSecurityGroups' shape) as rules for the host."""
    rules = []
    for perm in permissions:
        sources = [r["CidrIp"] for r in perm.get("IpRanges", []) if r.get("CidrIp")]
        for pair in perm.get("UserIdGroupPairs", []):
            sources += [f"{address}/32" for address in members.get(pair.get("GroupId", ""), [])]
        if not sources:
            continue
        protocol = str(perm.get("IpProtocol", "-1")).lower()
        protocol = {"6": "tcp", "17": "udp", "1": "icmp", "all": "-1"}.get(protocol, protocol)
        low = int(perm.get("FromPort", 0) if perm.get("FromPort") is not None else 0)
        high = int(perm.get("ToPort", 65535) if perm.get("ToPort") is not None else 65535)
        if protocol in ("tcp", "udp") and low < 0:
            low, high = 0, 65535
        rules.append(IngressRule(protocol, low, high, tuple(sources)))
    return rules
