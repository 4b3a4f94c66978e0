"""Wait for SSH on the build instance (retry with backoff), and pin its host key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.bake.access import connect, console_pin

if TYPE_CHECKING:
    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.state import BuildState


class WaitForSsh:
    name = "wait-for-ssh"

    def run(self, state: BuildState, ctx: BakeContext) -> None:
        build = ctx.loaded.recipe.build
        state.endpoint = ctx.target.ssh_endpoint(ctx.aws, state.instance, build)
        host, port = state.endpoint
        ctx.events.info(f"waiting for SSH on {host}:{port} as {build.ssh_username}")
        assert state.instance_id is not None
        state.host_key = console_pin(ctx.aws, state.region, state.instance_id, ctx.events)
        how = "from the console output" if state.host_key else "on first contact"
        state.ssh = connect(state, ctx)
        ctx.events.info(f"connected; host key {state.host_key.split()[0] if state.host_key else '?'} pinned {how}")

    def cleanup(self, state: BuildState, ctx: BakeContext) -> None:
        if state.ssh is not None:
            state.ssh.close()
            state.ssh = None
