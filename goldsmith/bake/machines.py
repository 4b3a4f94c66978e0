"""What the instance steps share: each role's settings (`InstanceSpec`, fixed when the sequence is
built, as Packer passes fields into `StepKeyPair{...}`), reaching that role's instance, and removing
its resources (used by the steps' cleanups and by release-instance, which removes them early).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from goldsmith.aws import ec2 as ec2ops
from goldsmith.ssh.endpoint import SshTarget
from goldsmith.ssh.reach import bastion_target, connect
from goldsmith.validate.plan import jump_of
from goldsmith.validate.suites import Connection

if TYPE_CHECKING:
    from goldsmith.bake.context import MachineContext
    from goldsmith.bake.state import BuildState, InstanceState, Role
    from goldsmith.recipe.model import Build, Volumes
    from goldsmith.recipe.model_image import Encryption
    from goldsmith.ssh.keys import PrivateKey
    from goldsmith.ssh.session import SshSession


@dataclass(frozen=True)
class InstanceSpec:
    """One role's instance: network and SSH settings, type, volumes, and what to call its resources."""

    role: Role
    build: Build  # network, SSH user/port, bastion, timeouts (the recipe's, or defaults)
    instance_type: str
    volumes: Volumes | None = None  # build: the recipe's volumes; None: the image's own, deleted with it
    encrypt: Encryption | None = None  # build: encrypt every volume (with the region's key)
    bastion_key: PrivateKey | None = None  # build.bastion.private_key_file, loaded when the sequence is built
    label: str = ""  # for the Name tag: "build base" -> "goldsmith build base BUILD_ID"
    ingress: tuple[int, ...] = ()  # TCP ports opened besides SSH, from the same builder CIDRs (validate.ingress)

    def resource_name(self, build_id: str) -> str:
        """Key pair and security group name: goldsmith-ID for the build, goldsmith-ID-validate otherwise."""
        return f"goldsmith-{build_id}" if self.role == "build" else f"goldsmith-{build_id}-validate"

    def client_token(self, build_id: str) -> str:
        return f"{build_id}-build" if self.role == "build" else f"validate-{build_id}"

    def step_name(self, base: str) -> str:
        """`launch-instance` for the build instance, `validation:launch-instance` for the others."""
        return base if self.role == "build" else f"{self.role}:{base}"


def kept_on_error(state: BuildState, ctx: MachineContext) -> bool:
    """--keep-on-error and the run failed: the instance and its access stay for debugging."""
    return ctx.options.keep_on_error and state.outcome == "failed"


def ssh_target(machine: InstanceState, spec: InstanceSpec) -> SshTarget:
    assert machine.endpoint is not None and machine.private_key is not None
    host, port = machine.endpoint
    # Unpinned in the recipe: reconnects (after a reboot) pin the key the first connection saw.
    seen = machine.ssh.bastion_host_key if machine.ssh is not None else None
    bastion = bastion_target(spec.build.bastion, spec.bastion_key, machine.private_key, seen)
    return SshTarget(host=host, port=port, username=spec.build.ssh_username, key=machine.private_key,
                     bastion=bastion)


def connect_instance(machine: InstanceState, spec: InstanceSpec, ctx: MachineContext) -> SshSession:
    """A session to the role's instance; after the first contact its host key must not change."""
    session = connect(ssh_target(machine, spec), timeout=spec.build.timeouts.ssh, known_host_key=machine.host_key,
                      warn=ctx.events.warn, cancel=ctx.cancel)
    machine.host_key = session.host_key
    return session


def suite_connection(machine: InstanceState, spec: InstanceSpec) -> Connection:
    """How the suites reach the role's instance: the pinned host key, the bastion pinned likewise."""
    target = ssh_target(machine, spec)
    seen = machine.ssh.bastion_host_key if machine.ssh is not None else None
    return Connection(host=target.host, port=target.port, user=target.username, key=target.key,
                      host_key=machine.host_key, bastion=jump_of(target.bastion, seen))


def remove_instance(state: BuildState, spec: InstanceSpec, ctx: MachineContext) -> None:
    """Close the session, terminate the instance and wait until it is gone (its group can go then)."""
    machine = state.instances[spec.role]
    if machine.ssh is not None:
        machine.ssh.close()
        machine.ssh = None
    if machine.instance_id is None:
        return
    ec2ops.terminate_instance(ctx.aws.ec2(state.region), machine.instance_id, ctx.waits)
    ctx.journal.deleted("instance", machine.instance_id)
    machine.instance_id = None


def remove_security_group(state: BuildState, spec: InstanceSpec, ctx: MachineContext) -> None:
    machine = state.instances[spec.role]
    if machine.security_group_id is None:
        return
    ec2ops.delete_security_group(ctx.aws.ec2(state.region), machine.security_group_id)
    ctx.journal.deleted("security-group", machine.security_group_id)
    machine.security_group_id = None


def remove_key_pair(state: BuildState, spec: InstanceSpec, ctx: MachineContext) -> None:
    machine = state.instances[spec.role]
    if machine.key_name is None:
        return
    ec2ops.delete_key_pair(ctx.aws.ec2(state.region), machine.key_name)
    ctx.journal.deleted("key-pair", machine.key_name)
    machine.key_name = None


def keep_message(state: BuildState, spec: InstanceSpec, ctx: MachineContext) -> str:
    """--keep-on-error: write the instance's key to a file and say how to reach the instance."""
    machine = state.instances[spec.role]
    key_file: Path | str = "?"
    if machine.private_key is not None:
        name = f"{state.build_id}.pem" if spec.role == "build" else f"{state.build_id}-{spec.role}.pem"
        key_file = machine.private_key.write_private_file(ctx.options.work_dir / "keys", name=name)
    host, port = machine.endpoint or ("?", 22)
    what = "instance" if spec.role == "build" else f"{spec.role} instance"
    return (f"--keep-on-error: {what} {machine.instance_id} is still running; reach it with "
            f"ssh -i {key_file} -p {port} {spec.build.ssh_username}@{host}; remove it all with "
            f"`invoke clean --build-id {state.build_id}`")
