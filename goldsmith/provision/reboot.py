"""The reboot provisioner: restart the instance and carry on with a new session once SSH is back."""

from __future__ import annotations

import time

from goldsmith.errors import SshError
from goldsmith.provision.base import ProvisionContext, Provisioner, StepFailed
from goldsmith.recipe.model import RebootStep
from goldsmith.ssh.session import SshSession

# Detached and delayed by a second so the command returns before the machine goes down.
REBOOT_COMMAND = "nohup sh -c 'sleep 1; shutdown -r now || reboot' </dev/null >/dev/null 2>&1 &"
POLL_SECONDS = 0.5


def wait_until_down(session: SshSession, timeout: float) -> bool:
    """True once the connection is gone (commands fail), False if it still answers at the deadline."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not session.active:
            return True
        try:
            session.run("true", timeout=5)
        except SshError:
            return True
        time.sleep(POLL_SECONDS)
    return not session.active


class RebootProvisioner(Provisioner[RebootStep]):
    """Reboot, wait for the connection to drop, reconnect (host key pinned by ``ctx.reconnect``)."""

    kind = "reboot"

    def run(self, ctx: ProvisionContext) -> None:
        ctx.log("rebooting")
        started = time.monotonic()
        result = ctx.session.run(REBOOT_COMMAND, sudo=True, timeout=30)
        if result.exit_status != 0:
            raise StepFailed(f"failed: the reboot command exited with {result.exit_status}", result.output_tail)
        if not wait_until_down(ctx.session, self.step.timeout):
            raise StepFailed(f"failed: the instance still answered {self.step.timeout} s after the reboot command")
        ctx.session.close()
        ctx.log(f"went down after {time.monotonic() - started:.1f} s; waiting for SSH")
        ctx.session = ctx.reconnect()
        ctx.log(f"back after {time.monotonic() - started:.1f} s")
