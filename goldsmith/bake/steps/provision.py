"""Run the recipe's provisioners over SSH on the build instance, streaming their output."""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.bake.machines import InstanceSpec, connect_instance
from goldsmith.provision.base import ProvisionContext, run_provisioners

if TYPE_CHECKING:
    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.state import BuildState
    from goldsmith.ssh.session import SshSession


class Provision:
    name = "provision"

    def __init__(self, spec: InstanceSpec) -> None:
        self.spec = spec  # how to reconnect after a reboot or a dropped connection

    def run(self, state: BuildState, ctx: BakeContext) -> None:
        machine = state.build
        assert machine.ssh is not None

        def reconnect() -> SshSession:
            if machine.ssh is not None:
                machine.ssh.close()
            machine.ssh = connect_instance(machine, self.spec, ctx)
            return machine.ssh

        pctx = ProvisionContext(
            session=machine.ssh,
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
        machine.ssh = pctx.session
        machine.ssh.remove_private_dirs()  # none may reach the image, even after a dropped connection

    def cleanup(self, state: BuildState, ctx: BakeContext) -> None:
        return None
