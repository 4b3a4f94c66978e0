"""A temporary ed25519 key pair for one role's instance; its private key stays in memory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.aws import creates
from goldsmith.bake.machines import InstanceSpec, kept_on_error, remove_key_pair
from goldsmith.engine.signals import create_then_record
from goldsmith.ssh.keys import PrivateKey

if TYPE_CHECKING:
    from goldsmith.bake.context import MachineContext
    from goldsmith.bake.state import BuildState


class CreateKeyPair:
    def __init__(self, spec: InstanceSpec) -> None:
        self.spec = spec
        self.name = spec.step_name("create-key-pair")

    def run(self, state: BuildState, ctx: MachineContext) -> None:
        machine = state.instances[self.spec.role]
        name = self.spec.resource_name(state.build_id)
        entry = ctx.journal.intent("key-pair", state.region, name)
        with create_then_record():
            key_id, material = creates.create_key_pair(ctx.aws.ec2(state.region), name, state.tags, waits=ctx.waits)
            machine.key_name = name
            ctx.journal.created(entry, key_id)
        machine.private_key = PrivateKey.from_openssh(material)
        del material

    def cleanup(self, state: BuildState, ctx: MachineContext) -> None:
        if not kept_on_error(state, ctx):
            remove_key_pair(state, self.spec, ctx)
