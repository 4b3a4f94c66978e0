"""A paramiko ``ProxyCommand`` that notices when its command exits.

paramiko's own ``ProxyCommand.recv`` treats the end of the command's output as "no data yet": it spins
on ``select`` until its timeout (the 15 s banner timeout while connecting, at 100% CPU), then reports
"Error reading SSH protocol banner" (paramiko pull request #995, never merged). When our bastion relay
refuses a bastion (wrong host key, unreachable), every suite test would wait those 15 s. This class
raises ``ProxyCommandFailure`` at once instead, which paramiko passes through as the connection error.
"""

from __future__ import annotations

import os
import subprocess
import time
from select import select

import paramiko
from paramiko.ssh_exception import ProxyCommandFailure


class EofAwareProxyCommand(paramiko.ProxyCommand):
    """``paramiko.ProxyCommand`` whose ``recv`` fails when the command has closed its output."""

    def recv(self, size: int) -> bytes:
        buffer = b""
        start = time.monotonic()
        stdout = self.process.stdout
        if stdout is None:  # paramiko always starts the command with stdout=PIPE
            raise ProxyCommandFailure(" ".join(self.cmd), "has no output pipe")
        while len(buffer) < size:
            wait = None
            if self.timeout is not None:
                wait = self.timeout - (time.monotonic() - start)
                if wait <= 0:
                    if buffer:
                        return buffer
                    raise TimeoutError()  # what socket.timeout is: paramiko expects it
            readable, _, _ = select([stdout], [], [], wait)
            if not readable:
                continue
            try:
                data = os.read(stdout.fileno(), size - len(buffer))
            except OSError as exc:
                raise ProxyCommandFailure(" ".join(self.cmd), exc.strerror or str(exc)) from exc
            if not data:
                if buffer:
                    return buffer
                try:  # a command that closes its output is nearly always exiting: say how it ended
                    status: int | None = self.process.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    status = None
                why = "closed its output" if status is None else f"exited with status {status}"
                raise ProxyCommandFailure(" ".join(self.cmd), why)
            buffer += data
        return buffer

    def close(self) -> None:
        # paramiko's close signals the process; once recv has reaped it, that raises ProcessLookupError.
        if self.process.poll() is None:
            super().close()


def install() -> None:
    """Make ``paramiko.ProxyCommand`` (looked up by testinfra's paramiko backend at connect time) this class."""
    paramiko.ProxyCommand = EofAwareProxyCommand  # type: ignore[misc]
