"""Reaching the build instance over SSH, with the host key pinned after first contact."""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.aws.console import console_host_keys, preferred_host_key
from goldsmith.errors import AwsError
from goldsmith.ssh.endpoint import SshTarget
from goldsmith.ssh.keys import PrivateKey
from goldsmith.ssh.session import SshSession

if TYPE_CHECKING:
    from goldsmith.aws.session import Aws
    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.state import BuildState
    from goldsmith.recipe.model import Build
    from goldsmith.report.events import Events


def bastion_target(build: Build, key: PrivateKey | None, default_key: PrivateKey,
                   seen_host_key: str | None = None) -> SshTarget | None:
    """The recipe's jump host, if any: its own key (``build.bastion.private_key_file``, loaded by the
    caller) else the instance's; pinned by the recipe's host_key, else by the key a first connection saw."""
    b = build.bastion
    if b is None:
        return None
    return SshTarget(host=b.host, port=b.port, username=b.username, key=key or default_key,
                     known_host_key=b.host_key or seen_host_key)


def bastion_key(ctx: BakeContext) -> PrivateKey | None:
    """The key file the recipe names for its bastion (a path in the project), or None."""
    b = ctx.loaded.recipe.build.bastion
    return PrivateKey.from_file(ctx.loaded.resolve(b.private_key_file)) if b and b.private_key_file else None


def ssh_target(state: BuildState, ctx: BakeContext) -> SshTarget:
    build = ctx.loaded.recipe.build
    assert state.endpoint is not None and state.private_key is not None
    host, port = state.endpoint
    # Unpinned in the recipe: reconnects (after a reboot) pin the key the first connection saw.
    seen = state.ssh.bastion_host_key if state.ssh is not None else None
    bastion = bastion_target(build, bastion_key(ctx), state.private_key, seen)
    return SshTarget(host=host, port=port, username=build.ssh_username, key=state.private_key, bastion=bastion)


def connect(state: BuildState, ctx: BakeContext) -> SshSession:
    """A session to the build instance; after the first contact the host key must not change."""
    build = ctx.loaded.recipe.build
    target = ssh_target(state, ctx)
    session = SshSession.connect(target, timeout=build.timeouts.ssh, known_host_key=state.host_key)
    state.host_key = session.host_key
    if target.bastion is not None and target.bastion.known_host_key is None and session.bastion_host_key:
        ctx.events.warn(
            f"bastion {target.bastion.address} is not pinned: trusting the host key it showed on first use "
            f"({session.bastion_host_key}); set build.bastion.host_key to that to have any other key refused"
        )
    return session


def console_pin(aws: Aws, region: str, instance_id: str, events: Events) -> str | None:
    """The instance's host key as cloud-init printed it on the console, if it has yet (else None: TOFU)."""
    try:
        keys = console_host_keys(aws.ec2(region), instance_id)
    except AwsError as exc:
        events.warn(f"could not read the console of {instance_id} ({exc}); trusting its first host key")
        return None
    return preferred_host_key(keys)
