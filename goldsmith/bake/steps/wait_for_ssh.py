"""Wait for SSH on one role's instance (retry with backoff), and pin its host key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.aws.console import console_output
from goldsmith.bake.machines import InstanceSpec, connect_instance
from goldsmith.errors import AwsError
from goldsmith.ssh.reach import pin_from_console

if TYPE_CHECKING:
    from goldsmith.bake.context import MachineContext
    from goldsmith.bake.state import BuildState


class WaitForSsh:
    def __init__(self, spec: InstanceSpec) -> None:
        self.spec = spec
        self.name = spec.step_name("wait-for-ssh")

    def run(self, state: BuildState, ctx: MachineContext) -> None:
        build = self.spec.build
        machine = state.instances[self.spec.role]
        assert machine.instance_id is not None
        machine.endpoint = ctx.target.ssh_endpoint(ctx.aws, machine.instance, build)
        host, port = machine.endpoint
        ctx.events.info(f"waiting for SSH on {host}:{port} as {build.ssh_username}")
        try:
            machine.host_key = pin_from_console(console_output(ctx.aws.ec2(state.region), machine.instance_id))
        except AwsError as exc:
            ctx.events.warn(f"could not read the console of {machine.instance_id} ({exc}); trusting its first host key")
        how = "from the console output" if machine.host_key else "on first contact"
        machine.ssh = connect_instance(machine, self.spec, ctx)
        key_type = machine.host_key.split()[0] if machine.host_key else "?"
        what = "" if self.spec.role == "build" else f" of the {self.spec.role} instance"
        ctx.events.info(f"connected; host key {key_type}{what} pinned {how}")

    def cleanup(self, state: BuildState, ctx: MachineContext) -> None:
        machine = state.instances[self.spec.role]
        if machine.ssh is not None:
            machine.ssh.close()
            machine.ssh = None
