"""The VPC a run's security groups go in (shared by the bake's preflight and `invoke validate`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.aws import ec2 as ec2ops
from goldsmith.errors import PreflightError

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

    from goldsmith.recipe.model import Build


def build_vpc(ec2: EC2Client, build: Build) -> str:
    """The VPC the security group goes in: the subnet's (which must be vpc_id if both are given), else the default."""
    if build.subnet_id:
        vpc_id = ec2ops.subnet_vpc(ec2, build.subnet_id)
        if build.vpc_id and build.vpc_id != vpc_id:
            raise PreflightError(
                f"build.subnet_id {build.subnet_id} is in {vpc_id}, not in build.vpc_id {build.vpc_id}: "
                "pick a subnet of that VPC, or drop vpc_id to use the subnet's VPC."
            )
        return vpc_id
    if build.vpc_id:  # the recipe schema requires subnet_id with vpc_id; kept for models built in code
        return build.vpc_id
    return ec2ops.default_vpc(ec2)
