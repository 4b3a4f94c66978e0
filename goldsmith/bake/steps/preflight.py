"""Fail before spending money: the AMI name is free, the subnet and regions exist."""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.aws import ec2 as ec2ops
from goldsmith.aws.calls import aws_call
from goldsmith.bake.preflight_share import check_publishing
from goldsmith.errors import PreflightError

if TYPE_CHECKING:
    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.state import BuildState


class Preflight:
    name = "preflight"

    def run(self, state: BuildState, ctx: BakeContext) -> None:
        recipe = ctx.loaded.recipe
        ec2 = ctx.aws.ec2(state.region)
        state.image_name = ctx.loaded.render(recipe.image.name, **state.facts)
        taken = ec2ops.images_named(ec2, state.image_name)
        if taken:
            raise PreflightError(
                f"An AMI named '{state.image_name}' already exists ({taken[0]['ImageId']}) in {state.region}: "
                "change image.name (add {{ timestamp }} or bump the version) or deregister the old one."
            )
        build = recipe.build
        if build.subnet_id:
            state.vpc_id = ec2ops.subnet_vpc(ec2, build.subnet_id)
        elif build.vpc_id:
            state.vpc_id = build.vpc_id
        else:
            state.vpc_id = ec2ops.default_vpc(ec2)
        wanted = set(recipe.image.regions) - {state.region}
        if wanted:
            with aws_call("DescribeRegions"):
                known = {r["RegionName"] for r in ec2.describe_regions(AllRegions=True)["Regions"]}
            missing = sorted(wanted - known)
            if missing:
                raise PreflightError(f"image.regions: {', '.join(missing)} not available to this account.")
        check_publishing(state, ctx)  # sharing, public access, KMS keys of every region, deprecation

    def cleanup(self, state: BuildState, ctx: BakeContext) -> None:
        return None
