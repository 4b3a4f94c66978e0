"""moto's server as its own process, with Goldsmith's fixes applied before the first request.

Run as ``python -m goldsmith.sandbox.moto_server --port N [--base-image-name NAME] [--iam]``. moto's own AMI list
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

BASE_IMAGE_NAME_PREFIX = "debian-12-sandbox-amd64"


def default_base_image_name() -> str:
    """The base AMI's name, dated like Debian's own (debian-12-amd64-YYYYMMDD-...)."""
    return f"{BASE_IMAGE_NAME_PREFIX}-{datetime.now(UTC):%Y%m%d}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float, what: str) -> None:
    """Block until something accepts connections on the port, or fail if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EnvironmentProblem(f"{what} exited with status {proc.returncode} before it served")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise EnvironmentProblem(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to SIGTERM it when the daemon dies (even by SIGKILL)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class MotoProcess:
    """A running moto server child process (with our fixes)."""

    proc: subprocess.Popen[bytes]
    port: int
    credentials: Credentials = UNCHECKED  # the administrator key when IAM is enforced
    iam: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(
        cls,
        port: int | None = None,
        base_image_name: str | None = None,
        log: Path | None = None,
        timeout: float = 30.0,
        die_with_parent: bool = False,
        iam: bool = False,
    ) -> MotoProcess:
        """Spawn the server and wait until it listens; with die_with_parent it gets SIGTERM if we die. With
        iam, moto enforces IAM once this has created the administrator key (`credentials`)."""
        port = port or free_port()
        cmd = [sys.executable, "-m", "goldsmith.sandbox.moto_server", "--port", str(port)]
        if base_image_name:
            cmd += ["--base-image-name", base_image_name]
        if iam:
            cmd += ["--iam"]
        out: IO[bytes] | int = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
        try:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    preexec_fn=_die_with_parent if die_with_parent else None)
        finally:
            if not isinstance(out, int):
                out.close()
        moto = cls(proc, port, iam=iam)
        try:
            wait_for_port(port, proc, timeout, "the moto server")
            if iam:
                moto.credentials = create_admin(moto.url)
        except BaseException:
            moto.stop()
            raise
        return moto

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
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--base-image-name",
        default=None,
        help="name of the public base AMI created in every region (default: dated)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request (werkzeug)")
    parser.add_argument("--iam", action="store_true",
                        help=f"enforce IAM after the first {ADMIN_SETUP_CALLS} requests (the sandbox's setup)")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    if args.iam:  # moto reads it when its settings module is imported, below
        os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = str(ADMIN_SETUP_CALLS)
    else:
        os.environ.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)
    os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
    os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "false")
    from moto import server

    from goldsmith.sandbox import moto_fixes

    moto_fixes.apply_all(args.base_image_name or default_base_image_name())
    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server.main(["--host", args.host, "--port", str(args.port)])


if __name__ == "__main__":
    main()
