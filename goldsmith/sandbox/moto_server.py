"""moto's server as its own process, with Goldsmith's fixes applied before the first request.

Run as ``python -m goldsmith.sandbox.moto_server (--port N | --socket PATH) [--base-image-name NAME] [--iam]``.
The sandbox daemon uses a unix socket in its state directory (see goldsmith.sandbox.moto_transport: only the
user who started the sandbox can connect); unit tests use a TCP port. moto's own AMI list
is not loaded: the sandbox world holds only the base AMIs (per region: Debian's, and one billed like RHEL
that shares its root snapshot), so every snapshot an instance boots from is one the instance runtime knows.
With ``--iam`` moto enforces IAM after the sandbox's own setup requests (goldsmith.sandbox.credentials).
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from goldsmith.errors import EnvironmentProblem
from goldsmith.sandbox.credentials import ADMIN_SETUP_CALLS, UNCHECKED, Credentials, create_admin
from goldsmith.sandbox.moto_transport import UNIX_PATH_MAX, unix_url

BASE_IMAGE_NAME_PREFIX = "debian-12-sandbox-amd64"


def default_base_image_name() -> str:
    """The base AMI's name, dated like Debian's own (debian-12-amd64-YYYYMMDD-...)."""
    return f"{BASE_IMAGE_NAME_PREFIX}-{datetime.now(UTC):%Y%m%d}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _connect(address: int | Path) -> None:
    if isinstance(address, int):
        socket.create_connection(("127.0.0.1", address), timeout=0.5).close()
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        sock.connect(str(address))


def wait_for_port(port: int | Path, proc: subprocess.Popen[bytes], timeout: float, what: str) -> None:
    """Block until something accepts connections on the TCP port of 127.0.0.1 (or the unix socket), or fail if
    the process died."""
    where = f"127.0.0.1:{port}" if isinstance(port, int) else str(port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EnvironmentProblem(f"{what} exited with status {proc.returncode} before it served")
        try:
            _connect(port)
            return
        except OSError:
            time.sleep(0.02)
    raise EnvironmentProblem(f"{what} did not listen on {where} within {timeout:.0f} s")


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to SIGTERM it when the daemon dies (even by SIGKILL)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class MotoProcess:
    """A running moto server child process (with our fixes)."""

    proc: subprocess.Popen[bytes]
    port: int  # 0 when it listens on a unix socket
    credentials: Credentials = UNCHECKED  # the administrator key when IAM is enforced
    iam: bool = False
    socket: Path | None = None

    @property
    def url(self) -> str:
        """Its address for goldsmith.sandbox.moto_transport (and, on TCP, for any HTTP client)."""
        return unix_url(self.socket) if self.socket else f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(
        cls,
        port: int | None = None,
        base_image_name: str | None = None,
        log: Path | None = None,
        timeout: float = 30.0,
        die_with_parent: bool = False,
        iam: bool = False,
        unix_socket: Path | None = None,
        vpc_cidr: str | None = None,
    ) -> MotoProcess:
        """Spawn the server and wait until it listens (on `unix_socket` if given, else on a TCP port of
        127.0.0.1); with die_with_parent it gets SIGTERM if we die. With iam, moto enforces IAM once this has
        created the administrator key (`credentials`)."""
        moto = cls.spawn(port, base_image_name, log, die_with_parent, iam, unix_socket, vpc_cidr)
        moto.wait_ready(timeout)
        return moto

    @classmethod
    def spawn(cls, port: int | None = None, base_image_name: str | None = None, log: Path | None = None,
              die_with_parent: bool = False, iam: bool = False, unix_socket: Path | None = None,
              vpc_cidr: str | None = None) -> MotoProcess:
        """`start` without the wait: moto takes ~2 s to import, which the caller can spend on its own imports;
        `wait_ready` next (or `stop`)."""
        if unix_socket is not None and len(str(unix_socket)) > UNIX_PATH_MAX:
            raise EnvironmentProblem(f"the sandbox's state directory path is too long for moto's unix socket "
                                     f"{unix_socket} (at most {UNIX_PATH_MAX} characters); choose a shorter one")
        port = 0 if unix_socket else port or free_port()
        cmd = [sys.executable, "-m", "goldsmith.sandbox.moto_server",
               *(["--socket", str(unix_socket)] if unix_socket else ["--port", str(port)])]
        if base_image_name:
            cmd += ["--base-image-name", base_image_name]
        if iam:
            cmd += ["--iam"]
        if vpc_cidr:
            cmd += ["--vpc-cidr", vpc_cidr]
        out: IO[bytes] | int = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
        try:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    preexec_fn=_die_with_parent if die_with_parent else None)
        finally:
            if not isinstance(out, int):
                out.close()
        return cls(proc, port, iam=iam, socket=unix_socket)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until it listens, and with IAM make the administrator key; stops it on failure."""
        try:
            wait_for_port(self.socket or self.port, self.proc, timeout, "the moto server")
            if self.iam:
                self.credentials = create_admin(self.url)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it lingers; always reaps the child."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, patch moto, serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m goldsmith.sandbox.moto_server")
    parser.add_argument("--host", default="127.0.0.1")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", type=int)
    where.add_argument("--socket", type=Path, help="listen on this unix socket (mode 0600) instead of TCP")
    parser.add_argument(
        "--base-image-name",
        default=None,
        help="name of the public base AMI created in every region (default: dated)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request (werkzeug)")
    parser.add_argument("--iam", action="store_true",
                        help=f"enforce IAM after the first {ADMIN_SETUP_CALLS} requests (the sandbox's setup)")
    parser.add_argument("--vpc-cidr", default=None,
                        help="every region's default VPC (the sandbox network; default: moto's 172.31.0.0/16)")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    if args.iam:  # moto reads it when its settings module is imported, below
        os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = str(ADMIN_SETUP_CALLS)
    else:
        os.environ.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)
    os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
    os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "false")
    from moto import server

    from goldsmith.sandbox import moto_fixes

    moto_fixes.apply_all(args.base_image_name or default_base_image_name(), args.vpc_cidr)
    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    if args.socket:
        os.umask(0o077)  # the socket werkzeug binds is 0600 from its first moment
        server.main(["--host", f"unix://{args.socket}", "--port", "0"])
    else:
        server.main(["--host", args.host, "--port", str(args.port)])


if __name__ == "__main__":
    main()
