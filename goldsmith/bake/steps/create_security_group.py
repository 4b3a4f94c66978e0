"""A temporary security group that lets SSH (and the validation's validate.ingress ports) into one role's
instance from the builder's address only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.aws import creates
from goldsmith.aws import ec2 as ec2ops
from goldsmith.bake.machines import InstanceSpec, kept_on_error, remove_security_group
from goldsmith.engine.signals import create_then_record

if TYPE_CHECKING:
    from goldsmith.bake.context import MachineContext
    from goldsmith.bake.state import BuildState


class CreateSecurityGroup:
    def __init__(self, spec: InstanceSpec) -> None:
        self.spec = spec
        self.name = spec.step_name("create-security-group")

    def run(self, state: BuildState, ctx: MachineContext) -> None:
        build = self.spec.build
        assert state.vpc_id is not None
        machine = state.instances[self.spec.role]
        cidrs = ctx.target.builder_cidrs(ctx.aws, state.vpc_id, build)
        name = self.spec.resource_name(state.build_id)
        ec2 = ctx.aws.ec2(state.region)
        entry = ctx.journal.intent("security-group", state.region, name)
        with create_then_record():
            group_id = creates.create_security_group(ec2, name=name, vpc_id=state.vpc_id, tags=state.tags,
                                                    waits=ctx.waits)
            machine.security_group_id = group_id
            ctx.journal.created(entry, group_id)
        extra = tuple(p for p in self.spec.ingress if p != build.ssh_port)
        for cidr in cidrs:
            ec2ops.allow_ssh_from(ec2, group_id, cidr=cidr, port=build.ssh_port, tags=state.tags, waits=ctx.waits,
                                  extra_ports=extra)
        ports = f"SSH and TCP {', '.join(map(str, extra))}" if extra else "SSH"
        ctx.events.info(f"security group {group_id} allows {ports} from {', '.join(cidrs)} only")

    def cleanup(self, state: BuildState, ctx: MachineContext) -> None:
        if not kept_on_error(state, ctx):
            remove_security_group(state, self.spec, ctx)
