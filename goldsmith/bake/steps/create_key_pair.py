"""A temporary ed25519 key pair; its private key stays in memory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.aws import ec2 as ec2ops
from goldsmith.bake.signals import create_then_record
from goldsmith.ssh.keys import PrivateKey

if TYPE_CHECKING:
    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.state import BuildState


class CreateKeyPair:
    name = "create-key-pair"

    def run(self, state: BuildState, ctx: BakeContext) -> None:
        name = f"goldsmith-{state.build_id}"
        entry = ctx.journal.intent("key-pair", state.region, name)
        with create_then_record():
            key_id, material = ec2ops.create_key_pair(ctx.aws.ec2(state.region), name, state.tags)
            state.key_name = name
            ctx.journal.created(entry, key_id)
        state.private_key = PrivateKey.from_openssh(material)
        del material

    def cleanup(self, state: BuildState, ctx: BakeContext) -> None:
        if state.key_name is None or _kept(state, ctx):
            return
        ec2ops.delete_key_pair(ctx.aws.ec2(state.region), state.key_name)
        ctx.journal.deleted("key-pair", state.key_name)
        state.key_name = None


def _kept(state: BuildState, ctx: BakeContext) -> bool:
    return ctx.options.keep_on_error and state.outcome == "failed"
