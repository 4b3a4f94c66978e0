"""A live SSH session to one instance: run commands with streamed output, upload files fast.

Commands run as ``sh -c`` with ``sudo -n`` in front when asked and the user is not root. A command with
an environment (or a provisioner's script) is written to a private script file over SFTP and run from
there, so no value is ever on a command line (sudo's log, /proc/*/cmdline); see scripts.py. Uploads go
over SFTP to a private temporary file, which a shell command gives its mode and owner and then moves
into place, so root-owned destinations work and a failed upload leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import io
import secrets as _secrets
import shlex
import tarfile
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO

from goldsmith.engine.cancel import NEVER, CancelToken
from goldsmith.errors import SshError
from goldsmith.ssh.connect import Connection, RetryHook, open_connection
from goldsmith.ssh.endpoint import SshTarget
from goldsmith.ssh.scripts import SCRIPT_NAME, place, run_file, wrapper

if TYPE_CHECKING:
    import paramiko  # imported where a session uses it: a bake that reuses an image never connects

TAIL_LINES = 40
PRIVATE_DIR_PREFIX = "/tmp/goldsmith-"  # + kind + "-" + random: scripts and uploads on their way
PRIVATE_DIR_KINDS = ("run", "upload")
CHUNK = 1 << 20
# SFTP write requests that fit one SSH packet (sshd's limit is 32 KiB): paramiko's 32 KiB default
# splits every request in two, which halves throughput.
SFTP_REQUEST_SIZE = 31 * 1024
MASK = "***"


class ConnectionDropped(SshError):
    """The SSH connection broke while a command was running (reboot, network, sshd killed)."""

    def __init__(self, message: str, output_tail: str = "") -> None:
        super().__init__(message)
        self.output_tail = output_tail


class CommandTimeout(SshError):
    """A command ran longer than its timeout and was abandoned (the remote process may still run)."""

    def __init__(self, message: str, output_tail: str = "") -> None:
        super().__init__(message)
        self.output_tail = output_tail


@dataclass
class CommandResult:
    """How a command ended: its exit status and the last lines of its (redacted) output."""

    exit_status: int
    output_tail: str

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


class _Lines:
    """Splits streamed bytes into lines, masks secrets, feeds a callback, keeps the tail."""

    def __init__(self, on_output: Callable[[str], None] | None, secrets: Collection[str]) -> None:
        self._on_output = on_output
        self._secrets = sorted((s for s in secrets if s), key=len, reverse=True)
        self._pending = b""
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)

    def feed(self, data: bytes) -> None:
        *lines, self._pending = (self._pending + data).split(b"\n")
        for line in lines:
            self._emit(line)

    def finish(self) -> None:
        if self._pending:
            self._emit(self._pending)
            self._pending = b""

    def _emit(self, raw: bytes) -> None:
        text = raw.decode("utf-8", errors="replace").rstrip("\r")
        # Progress bars rewrite one line with \r: keep what the terminal would show last.
        text = text.rsplit("\r", 1)[-1]
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        self.tail.append(text)
        if self._on_output is not None:
            self._on_output(text)


def shell_command(command: str, *, sudo: bool) -> str:
    """The command line sent to sshd: ``[sudo -n] sh -c '<command>' 2>&1`` (never with values in it).

    stderr is merged on the server: merging the two SSH streams on the client would reorder lines.
    """
    parts = ["sudo", "-n"] if sudo else []
    parts.extend(["sh", "-c", shlex.quote(command), "2>&1"])
    return " ".join(parts)


class SshSession:
    """One authenticated connection; create it with :meth:`connect`, close it (or use ``with``)."""

    def __init__(self, target: SshTarget, connection: Connection) -> None:
        self.target = target
        self._connection = connection
        self._sftp: paramiko.SFTPClient | None = None
        self.host_key: str = connection.host_key
        # The bastion's key as seen on this connection (pin it for reconnects when the recipe did not).
        self.bastion_host_key: str | None = connection.jumps[0].host_key if connection.jumps else None
        self.cancel: CancelToken = NEVER  # checked while commands run: a cancelled run stops waiting on them

    @classmethod
    def connect(
        cls,
        target: SshTarget,
        *,
        timeout: float,
        known_host_key: str | None = None,
        on_retry: RetryHook | None = None,
        cancel: CancelToken = NEVER,
    ) -> SshSession:
        """Wait up to ``timeout`` s for the server; with ``known_host_key`` any other key is refused.

        ``cancel`` stops the connection retries and, later, any command this session runs."""
        connection = open_connection(target, timeout=timeout, known_host_key=known_host_key, on_retry=on_retry,
                                     cancel=cancel)
        session = cls(target, connection)
        session.cancel = cancel
        return session

    @property
    def is_root(self) -> bool:
        return self.target.username == "root"

    @property
    def active(self) -> bool:
        return self._connection.transport.is_active()

    def _needs_sudo(self, sudo: bool) -> bool:
        return sudo and not self.is_root

    def _open_channel(self) -> paramiko.Channel:
        import paramiko

        try:
            return self._connection.transport.open_session(timeout=30)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise ConnectionDropped(
                f"the SSH connection to {self.target.describe()} is gone ({exc or type(exc).__name__})"
            ) from exc

    def run(
        self,
        command: str,
        *,
        env: Mapping[str, str] | None = None,
        sudo: bool = False,
        timeout: float | None = None,
        on_output: Callable[[str], None] | None = None,
        secrets: Collection[str] = (),
    ) -> CommandResult:
        """Run ``command`` with ``sh -c``, stream its merged output by line, return status and tail.

        With ``env`` the command goes through :meth:`run_script`, so the values stay off command lines.
        """
        import paramiko

        if env:
            return self.run_script(
                command, env=env, sudo=sudo, timeout=timeout, on_output=on_output, secrets=secrets
            )
        channel = self._open_channel()
        lines = _Lines(on_output, secrets)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            channel.set_combine_stderr(True)
            channel.settimeout(0.5)
            channel.exec_command(shell_command(command, sudo=self._needs_sudo(sudo)))
            self._pump(channel, lines, deadline, timeout)
            lines.finish()
            return CommandResult(self._exit_status(channel, lines), "\n".join(lines.tail))
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise ConnectionDropped(
                f"the SSH connection to {self.target.describe()} dropped while a command ran "
                f"({exc or type(exc).__name__})"
            ) from exc
        finally:
            channel.close()

    def _pump(self, channel: paramiko.Channel, lines: _Lines, deadline: float | None, timeout: float | None) -> None:
        while True:
            self.cancel.check()  # at least every 0.5 s (the channel's timeout)
            try:
                data = channel.recv(CHUNK)
            except TimeoutError:
                if deadline is not None and time.monotonic() > deadline:
                    lines.finish()
                    raise CommandTimeout(
                        f"a command on {self.target.describe()} still ran after {timeout:g} s and was abandoned",
                        "\n".join(lines.tail),
                    ) from None
                if not self.active:
                    break
                continue
            if not data:
                return
            lines.feed(data)

    def _exit_status(self, channel: paramiko.Channel, lines: _Lines) -> int:
        channel.status_event.wait(5)
        status = channel.exit_status
        if status != -1:
            return status
        # No exit status: either the remote process died from a signal (the server still closed the
        # channel cleanly) or the connection broke. A broken link shows as an inactive transport.
        end = time.monotonic() + 2
        while self.active and time.monotonic() < end and not channel.eof_received:
            time.sleep(0.05)
        if not self.active or not channel.eof_received:
            raise ConnectionDropped(
                f"the SSH connection to {self.target.describe()} dropped while a command ran",
                "\n".join(lines.tail),
            )
        return status

    # --- uploads -------------------------------------------------------------------------------

    def _sftp_client(self) -> paramiko.SFTPClient:
        import paramiko

        if self._sftp is None or self._sftp.sock.closed:
            try:
                self._sftp = paramiko.SFTPClient.from_transport(
                    self._connection.transport, window_size=1 << 27, max_packet_size=1 << 15
                )
            except (OSError, EOFError, paramiko.SSHException) as exc:
                raise SshError(
                    f"SFTP is not available on {self.target.describe()} ({exc}); the image needs the "
                    "openssh-server sftp subsystem"
                ) from exc
            if self._sftp is None:
                raise SshError(f"SFTP is not available on {self.target.describe()}")
        return self._sftp

    def _upload_stream(self, source: BinaryIO, remote: str, mode: int = 0o600) -> None:
        """Write ``remote`` over SFTP; it is chmod'ed to ``mode`` before any data goes in."""
        sftp = self._sftp_client()
        with sftp.open(remote, "wb") as handle:
            handle.chmod(mode)
            handle.MAX_REQUEST_SIZE = SFTP_REQUEST_SIZE
            handle.set_pipelined(True)
            while chunk := source.read(CHUNK):
                handle.write(chunk)

    def _private_dir(self, kind: str) -> str:
        """A new 0700 directory in /tmp owned by the login user (/tmp is shared; uploads hold secrets)."""
        folder = f"{PRIVATE_DIR_PREFIX}{kind}-{_secrets.token_hex(8)}"
        sftp = self._sftp_client()
        sftp.mkdir(folder, mode=0o700)
        sftp.chmod(folder, 0o700)  # the server's umask may have narrowed the mode, never widened it: be sure
        return folder

    def run_script(
        self,
        body: str,
        *,
        env: Mapping[str, str] | None = None,
        sudo: bool = False,
        timeout: float | None = None,
        on_output: Callable[[str], None] | None = None,
        secrets: Collection[str] = (),
        files: Mapping[str, Path] | None = None,
    ) -> CommandResult:
        """Run ``body`` (shell text) with ``env`` exported, from a private script file.

        The script (``export`` lines + body, mode 0600) and ``files`` (mode 0700, reachable from the
        body as ``"${0%/*}/NAME"``) are uploaded over SFTP into a 0700 directory that the same command
        removes after the run; the command line only names the file, and stdin is /dev/null.
        """
        import paramiko

        text = wrapper(body, env, alone=not files).encode()
        folder = ""
        try:
            folder = self._private_dir("run")
            self._upload_stream(io.BytesIO(text), f"{folder}/{SCRIPT_NAME}")
            for name, local in (files or {}).items():
                with Path(local).open("rb") as source:
                    self._upload_stream(source, f"{folder}/{name}", mode=0o700)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            self._remove_quietly(folder, sudo=sudo)
            raise SshError(
                f"uploading a script to {self.target.describe()} failed: {exc or type(exc).__name__}"
            ) from exc
        try:
            return self.run(run_file(folder), sudo=sudo, timeout=timeout, on_output=on_output, secrets=secrets)
        except SshError:
            self._remove_quietly(folder, sudo=sudo)
            raise

    def _via_temp(self, write: Callable[[str], None], finish: str, *, sudo: bool, what: str) -> None:
        """Write into a private (0700) temp directory with ``write``, then run ``finish`` with $TMP set
        to the file; the directory is removed whatever happens. Private, because uploads may hold
        rendered secrets and /tmp is shared."""
        import paramiko

        folder = ""
        try:
            folder = self._private_dir("upload")
            temp = f"{folder}/data"
            write(temp)
            script = f"TMP={shlex.quote(temp)}; ( {finish} ); rc=$?; rm -rf {shlex.quote(folder)}; exit $rc"
            result = self.run(script, sudo=sudo, timeout=600)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            self._remove_quietly(folder, sudo=sudo)
            raise SshError(f"uploading {what} to {self.target.describe()} failed: {exc or type(exc).__name__}") from exc
        except BaseException:
            self._remove_quietly(folder, sudo=sudo)
            raise
        if not result.ok:
            raise SshError(
                f"placing {what} on {self.target.describe()} failed with exit status "
                f"{result.exit_status}: {result.output_tail}"
            )

    def _remove_quietly(self, temp: str, *, sudo: bool) -> None:
        """Best effort after a failed upload (the connection may be gone already)."""
        if not temp or not self.active:
            return
        with contextlib.suppress(SshError):
            self.run(f"rm -rf {shlex.quote(temp)}", sudo=sudo, timeout=60)

    def _place(self, remote: str, *, name: str | None, mode: int | None, owner: str | None, sudo: bool) -> str:
        if not owner and self._needs_sudo(sudo):
            owner = "0:0"
        return place(remote, name=name, mode=mode, owner=owner)

    def upload_file(
        self, local: Path, remote: str, *, mode: int | None = None, owner: str | None = None, sudo: bool = True
    ) -> None:
        """Copy one file to ``remote``; without ``mode`` the local file's permission bits are kept.

        A ``remote`` ending in ``/`` or naming an existing directory gets the file under its own name.
        """
        local = Path(local)
        if mode is None:
            mode = local.stat().st_mode & 0o7777

        def write(temp: str) -> None:
            with local.open("rb") as source:
                self._upload_stream(source, temp)

        finish = self._place(remote, name=local.name, mode=mode, owner=owner, sudo=sudo)
        self._via_temp(write, finish, sudo=sudo, what=str(local))

    def upload_bytes(
        self,
        data: bytes,
        remote: str,
        *,
        mode: int | None = None,
        owner: str | None = None,
        sudo: bool = True,
        name: str | None = None,
    ) -> None:
        """Write ``data`` to ``remote`` (mode 0644 unless given); a ``remote`` ending in ``/`` or naming an
        existing directory gets it as ``name`` there (an error without a name)."""
        place = self._place(remote, name=name, mode=0o644 if mode is None else mode, owner=owner, sudo=sudo)
        self._via_temp(lambda temp: self._upload_stream(io.BytesIO(data), temp), place, sudo=sudo, what=remote)

    def upload_tree(self, local_dir: Path, remote_dir: str, *, owner: str | None = None, sudo: bool = True) -> None:
        """Copy the contents of ``local_dir`` into ``remote_dir`` (created), modes kept, as one tar stream."""
        local_dir = Path(local_dir)
        if not local_dir.is_dir():
            raise SshError(f"{local_dir} is not a directory")

        def owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            return info

        def write(temp: str) -> None:
            sftp = self._sftp_client()
            with sftp.open(temp, "wb") as handle:
                handle.chmod(0o600)
                handle.MAX_REQUEST_SIZE = SFTP_REQUEST_SIZE
                handle.set_pipelined(True)
                with tarfile.open(fileobj=handle, mode="w|", bufsize=CHUNK) as archive:
                    for path in sorted(local_dir.rglob("*")):
                        archive.add(
                            path, arcname=path.relative_to(local_dir).as_posix(), recursive=False, filter=owned_by_root
                        )

        dest = shlex.quote(remote_dir)
        steps = [f"mkdir -p {dest}", f'tar -x --no-same-owner -f "$TMP" -C {dest}']
        if owner:
            steps.append(f"chown -R {shlex.quote(owner)} {dest}")
        self._via_temp(write, " && ".join(steps), sudo=sudo, what=str(local_dir))

    def remove_private_dirs(self) -> None:
        """Remove every private folder sessions made on this machine. A connection that dropped between
        an upload and its run leaves one behind (a script with its exported values, a rendered file);
        the bake calls this once provisioning is done, before the volumes are snapshotted."""
        patterns = " ".join(f"{PRIVATE_DIR_PREFIX}{kind}-*" for kind in PRIVATE_DIR_KINDS)
        result = self.run(f"rm -rf {patterns}", sudo=True, timeout=120)
        if result.exit_status != 0:
            raise SshError(f"could not remove {patterns} on {self.target.describe()}: {result.output_tail}")

    # --- lifetime ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close SFTP, the connection and any bastion connection; safe to call twice."""
        import paramiko

        if self._sftp is not None:
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                self._sftp.close()
            self._sftp = None
        self._connection.close()

    def __enter__(self) -> SshSession:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SshSession({self.target.describe()}, {'open' if self.active else 'closed'})"
