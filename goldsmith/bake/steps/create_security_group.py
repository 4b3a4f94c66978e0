"""A temporary security group that lets SSH in from the builder's own address only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.aws import ec2 as ec2ops
from goldsmith.bake.signals import create_then_record

if TYPE_CHECKING:
    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.state import BuildState


class CreateSecurityGroup:
    name = "create-security-group"

    def run(self, state: BuildState, ctx: BakeContext) -> None:
        build = ctx.loaded.recipe.build
        assert state.vpc_id is not None
        cidr = ctx.target.builder_cidr(ctx.aws, state.vpc_id, build)
        name = f"goldsmith-{state.build_id}"
        ec2 = ctx.aws.ec2(state.region)
        entry = ctx.journal.intent("security-group", state.region, name)
        with create_then_record():
            group_id = ec2ops.create_security_group(ec2, name=name, vpc_id=state.vpc_id, tags=state.tags)
            state.security_group_id = group_id
            ctx.journal.created(entry, group_id)
        ec2ops.allow_ssh_from(ec2, group_id, cidr=cidr, port=build.ssh_port, tags=state.tags)
        ctx.events.info(f"security group {group_id} allows SSH from {cidr} only")

    def cleanup(self, state: BuildState, ctx: BakeContext) -> None:
        if state.security_group_id is None:
            return
        if ctx.options.keep_on_error and state.outcome == "failed":
            return
        ec2ops.delete_security_group(ctx.aws.ec2(state.region), state.security_group_id)
        ctx.journal.deleted("security-group", state.security_group_id)
        state.security_group_id = None
