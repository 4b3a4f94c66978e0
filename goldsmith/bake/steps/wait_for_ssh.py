"""Wait for SSH on one role's instance (retry with backoff), with its host key pinned from the console.

cloud-init prints the host keys on the console at first boot, and EC2 posts console output some time
after boot (often a minute or more): the console is polled until the key block is complete or
timeouts.host_key has passed. Without a key, `build.host_key: required` fails the run; `first-use`
trusts the first key the instance shows and says so.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from goldsmith.aws.console import console_output
from goldsmith.aws.wait_log import record_wait
from goldsmith.bake.machines import InstanceSpec, connect_instance
from goldsmith.errors import AwsError, SshError
from goldsmith.ssh.reach import END, pin_from_console

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
        machine.host_key = self._console_pin(state, ctx)
        how = "from the console output" if machine.host_key else "on first contact"
        ctx.events.info(f"waiting for SSH on {host}:{port} as {build.ssh_username}")
        machine.ssh = connect_instance(machine, self.spec, ctx)
        key_type = machine.host_key.split()[0] if machine.host_key else "?"
        what = "" if self.spec.role == "build" else f" of the {self.spec.role} instance"
        ctx.events.info(f"connected; host key {key_type}{what} pinned {how}")

    def _console_pin(self, state: BuildState, ctx: MachineContext) -> str | None:
        """The host key cloud-init printed, polled for until its block is complete or the time is up."""
        build = self.spec.build
        instance_id = state.instances[self.spec.role].instance_id
        assert instance_id is not None
        ec2 = ctx.aws.ec2(state.region)
        limit = float(build.timeouts.host_key)
        started = time.monotonic()
        deadline = started + limit
        why = f"no SSH host keys on its console within {limit:g} s (timeouts.host_key)"
        poll, attempt, pause = ctx.waits.poll("console"), 0, 0.0
        while True:
            attempt += 1
            try:
                text = console_output(ec2, instance_id)
            except AwsError as exc:
                why = f"its console could not be read ({exc})"
                break
            pin = pin_from_console(text)
            if pin:
                record_wait(ctx.waits.log, "console", instance_id, started, attempt, pause)
                return pin
            if END in text:
                why = "its console lists no ed25519 or ECDSA host key"
                break
            left = deadline - time.monotonic()
            if left <= 0:
                break
            pause = min(poll.pause(time.monotonic() - started, attempt), left)
            ctx.cancel.sleep(pause)
        if build.host_key == "required":
            raise SshError(f"{instance_id}: {why}; build.host_key: required refuses to trust a host key that "
                           "was not read from the console. Use an image with cloud-init, raise timeouts.host_key, "
                           "or set build.host_key: first-use.")
        ctx.events.warn(f"{instance_id}: {why}; trusting the host key it shows first")
        return None

    def cleanup(self, state: BuildState, ctx: MachineContext) -> None:
        machine = state.instances[self.spec.role]
        if machine.ssh is not None:
            machine.ssh.close()
            machine.ssh = None
