"""Facts about the account as a whole: the regions it can use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.aws.calls import aws_call

if TYPE_CHECKING:
    from goldsmith.aws.session import Aws


def enabled_regions(aws: Aws) -> list[str]:
    """Every region enabled for the account (DescribeRegions without AllRegions leaves out those not opted
    in), the current region first: where a search "across the account" looks."""
    with aws_call("DescribeRegions"):
        found = [r["RegionName"] for r in aws.ec2().describe_regions()["Regions"] if "RegionName" in r]
    return list(dict.fromkeys([aws.region, *sorted(found)]))
