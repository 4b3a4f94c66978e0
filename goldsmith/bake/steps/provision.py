"""Run the recipe's provisioners over SSH, streaming their output."""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.bake.access import connect
from goldsmith.provision.base import ProvisionContext, run_provisioners

if TYPE_CHECKING:
    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.state import BuildState
    from goldsmith.ssh.session import SshSession


class Provision:
    name = "provision"

    def run(self, state: BuildState, ctx: BakeContext) -> None:
        assert state.ssh is not None

        def reconnect() -> SshSession:
            if state.ssh is not None:
                state.ssh.close()
            state.ssh = connect(state, ctx)
            return state.ssh

        pctx = ProvisionContext(
            session=state.ssh,
            reconnect=reconnect,
            loaded=ctx.loaded,
            facts=dict(state.facts),
            log=lambda line: ctx.events.output("provision", line),
        )
        run_provisioners(
            ctx.loaded.recipe.provision,
            pctx,
            on_step=lambda index, label: ctx.events.info(f"provision[{index}] {label}"),
        )
        state.ssh = pctx.session
        state.ssh.remove_private_dirs()  # none may reach the image, even after a dropped connection

    def cleanup(self, state: BuildState, ctx: BakeContext) -> None:
        return None
