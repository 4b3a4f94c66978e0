"""Run the host's own OpenSSH server on 127.0.0.1 for tests and benchmarks (needs root).

Tests of goldsmith.ssh talk to a real sshd rather than a mock: this starts ``sshd -D -e`` with a
generated config, host key and authorized key in a private directory, and stops it (and every session
process it forked) again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from goldsmith.errors import EnvironmentProblem
from goldsmith.ssh.endpoint import SshTarget
from goldsmith.ssh.keys import PrivateKey

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (read from /proc), deepest last."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class LocalSshd:
    """One sshd on 127.0.0.1:``port``, root login with a fresh ed25519 key."""

    def __init__(self, workdir: Path, *, port: int | None = None, settings: Mapping[str, str] | None = None,
                 extra_host_key_types: tuple[str, ...] = ()) -> None:
        if os.geteuid() != 0 or not os.access(SSHD, os.X_OK):
            raise EnvironmentProblem("a local sshd needs root and /usr/sbin/sshd (apt-get install openssh-server)")
        self.workdir = Path(workdir)
        self.workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.port = port or free_port()
        self.settings = dict(settings or {})
        self.client_key = PrivateKey.generate_ed25519()
        self.host_key_file = self.workdir / "ssh_host_ed25519_key"
        self.new_host_key()
        # More host keys (ssh-keygen -t names: "ecdsa", "rsa"), as servers usually have several.
        self.extra_host_keys = {kind: self.workdir / f"ssh_host_{kind}_key" for kind in extra_host_key_types}
        for kind, path in self.extra_host_keys.items():
            path.unlink(missing_ok=True)
            path.with_suffix(".pub").unlink(missing_ok=True)
            subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(path)], check=True)
        self.log_file = self.workdir / "sshd.log"
        self._process: subprocess.Popen[bytes] | None = None

    def new_host_key(self) -> None:
        """Replace the host key (the next start shows a different one)."""
        for path in (self.host_key_file, self.host_key_file.with_suffix(".pub")):
            path.unlink(missing_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.host_key_file)], check=True)

    @property
    def host_public_key(self) -> str:
        """``ssh-ed25519 AAAA...`` of the current host key."""
        return " ".join(self.host_key_file.with_suffix(".pub").read_text().split()[:2])

    def _config(self) -> Path:
        authorized = self.workdir / "authorized_keys"
        authorized.write_text(self.client_key.public_openssh() + "\n")
        authorized.chmod(0o600)
        settings = {
            "ListenAddress": "127.0.0.1",
            "Port": str(self.port),
            "HostKey": str(self.host_key_file),
            "AuthorizedKeysFile": str(authorized),
            "PermitRootLogin": "prohibit-password",
            "PasswordAuthentication": "no",
            "KbdInteractiveAuthentication": "no",
            "UsePAM": "no",
            "StrictModes": "no",
            "PidFile": "none",
            "MaxStartups": "200",
            "MaxSessions": "100",
            "AllowTcpForwarding": "yes",
            "Subsystem": "sftp internal-sftp",
            "LogLevel": "ERROR",
        } | self.settings
        config = self.workdir / "sshd_config"
        extra = "".join(f"HostKey {path}\n" for path in self.extra_host_keys.values())
        config.write_text("".join(f"{key} {value}\n" for key, value in settings.items()) + extra)
        return config

    def start(self, *, wait: bool = True) -> None:
        """Start sshd; with ``wait`` return once it accepts connections."""
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        config = self._config()
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        if wait:
            self.wait_listening()

    def wait_listening(self, timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self._process is not None and self._process.poll() is not None:
                raise EnvironmentProblem(f"sshd exited at start: {self.log_file.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.02)
        raise EnvironmentProblem(f"sshd did not listen on 127.0.0.1:{self.port} within {timeout} s")

    def kill_sessions(self) -> int:
        """SIGKILL every process sshd forked (open connections drop); the listener keeps running."""
        if self._process is None:
            return 0
        victims = descendants(self._process.pid)
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(victims)

    def stop(self) -> None:
        """Stop the listener and every session it forked."""
        if self._process is None:
            return
        self.kill_sessions()
        self._process.terminate()
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def target(self, username: str = "root", *, bastion: SshTarget | None = None) -> SshTarget:
        return SshTarget("127.0.0.1", self.port, username, self.client_key, bastion)

    def remove(self) -> None:
        """Stop and delete the working directory."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalSshd:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
