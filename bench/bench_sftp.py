"""Upload throughput: SshSession.upload_file against OpenSSH's scp, same file, same local sshd.

Run as root: ``python bench/bench_sftp.py [--size-mib 200] [--reps 3] [--quick]``. Prints a table and
one JSON line per tool (bench/common.py) with min/median/max MB/s (1 MB = 10**6 bytes). Both tools talk
to the host's sshd on 127.0.0.1, so the figures measure the client side (crypto, pipelining), not a network.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import Figure, report

from goldsmith.ssh.localsshd import LocalSshd
from goldsmith.ssh.session import SshSession


def make_file(path: Path, size: int) -> None:
    block = os.urandom(1 << 20)
    with path.open("wb") as handle:
        for _ in range(size // len(block)):
            handle.write(block)
        handle.write(block[: size % len(block)])


def timed(action: Callable[[], None]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def scp_upload(sshd: LocalSshd, key_file: Path, local: Path, remote: str) -> None:
    subprocess.run(
        [
            "scp", "-q", "-i", str(key_file), "-P", str(sshd.port),
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
            str(local), f"root@127.0.0.1:{remote}",
        ],
        check=True,
    )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=200)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20 MiB, one repetition")
    args = parser.parse_args()
    if args.quick:
        args.size_mib, args.reps = 20, 1
    if os.geteuid() != 0:
        print("bench_sftp needs root (it starts the host's sshd)", file=sys.stderr)
        return 2
    size = args.size_mib * 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="bench-sftp-") as tmp:
        work = Path(tmp)
        local = work / "payload.bin"
        make_file(local, size)
        remote = str(work / "uploaded.bin")
        results: dict[str, list[float]] = {"goldsmith": [], "scp": []}
        with LocalSshd(work / "sshd") as sshd:
            key_file = sshd.client_key.write_private_file(work / "keys")
            with SshSession.connect(sshd.target(), timeout=10) as session:
                for _ in range(args.reps):
                    seconds = timed(lambda: session.upload_file(local, remote, mode=0o644))
                    assert Path(remote).stat().st_size == size
                    results["goldsmith"].append(size / seconds / 1e6)
                    os.unlink(remote)
                    seconds = timed(lambda: scp_upload(sshd, key_file, local, remote))
                    assert Path(remote).stat().st_size == size
                    results["scp"].append(size / seconds / 1e6)
                    os.unlink(remote)
    scp_median = statistics.median(results["scp"])
    figures = [
        Figure(f"SFTP upload {args.size_mib} MiB (goldsmith)", "MB/s", results["goldsmith"], goal=round(scp_median, 1),
               better="higher", note="SshSession.upload_file; goal: scp's median in the same run"),
        Figure(f"SFTP upload {args.size_mib} MiB (OpenSSH scp)", "MB/s", results["scp"], better="higher"),
    ]
    report(f"upload of {args.size_mib} MiB to 127.0.0.1, {args.reps} reps (1 MB = 10**6 bytes)", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
