"""Stop the build instance and wait until it is stopped, so the volumes are consistent."""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.aws import ec2 as ec2ops

if TYPE_CHECKING:
    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.state import BuildState


class StopInstance:
    name = "stop-instance"

    def run(self, state: BuildState, ctx: BakeContext) -> None:
        machine = state.build
        assert machine.instance_id is not None
        if machine.ssh is not None:
            machine.ssh.close()
            machine.ssh = None
        ec2ops.stop_instance(ctx.aws.ec2(state.region), machine.instance_id, ctx.waits)

    def cleanup(self, state: BuildState, ctx: BakeContext) -> None:
        return None
