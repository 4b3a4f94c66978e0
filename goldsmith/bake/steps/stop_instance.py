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
        assert state.instance_id is not None
        if state.ssh is not None:
            state.ssh.close()
            state.ssh = None
        ec2ops.stop_instance(ctx.aws.ec2(state.region), state.instance_id, ctx.waits)

    def cleanup(self, state: BuildState, ctx: BakeContext) -> None:
        return None
