"""``python -m goldsmith.ssh.relay``: a ProxyCommand that reaches HOST PORT through a bastion.

testinfra's paramiko backend honours ProxyCommand (not ProxyJump) in its ssh_config, so validation
through a bastion runs this relay: it opens the bastion with Goldsmith's own connect (the bastion's host
key pinned, the key from a 0600 file), asks it for a direct-tcpip channel to HOST:PORT, and copies bytes
between that channel and stdin/stdout until either side closes. The instance's own host key is still
checked by the suites' plugin, end to end through the tunnel.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from goldsmith.ssh.connect import open_connection
from goldsmith.ssh.endpoint import SshTarget
from goldsmith.ssh.keys import PrivateKey

if TYPE_CHECKING:
    import paramiko


CHUNK = 1 << 16


def proxy_command(*, user: str, host: str, port: int, key_file: Path, host_key: str | None, target: tuple[str, int],
                  error_file: Path, timeout: float = 30) -> list[str]:
    """The relay's command line for an ssh_config ProxyCommand. The target is spelled out: paramiko
    expands ``%p`` from the config's Port (22 unless set), not from the port the client dials."""
    command = [sys.executable, "-m", "goldsmith.ssh.relay", "--via", f"{user}@{host}:{port}",
               "--key", str(key_file), "--timeout", str(timeout), "--error-file", str(error_file)]
    if host_key:
        command += ["--host-key", host_key]
    return [*command, target[0], str(target[1])]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def relay(channel: paramiko.Channel, stdin: int, stdout: int) -> None:
    """Copy stdin -> channel (in a thread) and channel -> stdout until the channel closes."""


    def upstream() -> None:
        try:
            while data := os.read(stdin, CHUNK):
                channel.sendall(data)
        except OSError:
            pass
        finally:
            channel.shutdown_write()

    threading.Thread(target=upstream, name="relay-upstream", daemon=True).start()
    while data := channel.recv(CHUNK):
        _write_all(stdout, data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m goldsmith.ssh.relay", description=__doc__.splitlines()[0])
    parser.add_argument("--via", required=True, help="the bastion as user@host:port")
    parser.add_argument("--key", required=True, type=Path, help="private key file for the bastion")
    parser.add_argument("--host-key", help="the bastion's pinned host key (key line or SHA256 fingerprint)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to reach the bastion and target")
    parser.add_argument("--error-file", type=Path,
                        help="also write why the relay failed here (a ProxyCommand's stderr is not shown)")
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    args = parser.parse_args(argv)
    user, _, address = args.via.rpartition("@")
    host, _, port = address.rpartition(":")
    if not user or not host or not port.isdigit():
        parser.error(f"--via {args.via!r}: expected user@host:port")
    bastion = SshTarget(host=host, port=int(port), username=user, key=PrivateKey.from_file(args.key),
                        known_host_key=args.host_key)
    try:
        connection = open_connection(bastion, timeout=args.timeout)
    except Exception as exc:
        return _failed(f"bastion {bastion.describe()}: {exc}", args.error_file)
    try:
        channel = connection.transport.open_channel(
            "direct-tcpip", (args.host, args.port), ("127.0.0.1", 0), timeout=args.timeout)
        relay(channel, sys.stdin.buffer.fileno(), sys.stdout.buffer.fileno())
    except (OSError, paramiko.SSHException) as exc:
        return _failed(f"bastion {bastion.address} could not reach {args.host}:{args.port}: {exc}", args.error_file)
    finally:
        connection.close()
    return 0


def _failed(reason: str, error_file: Path | None) -> int:
    print(f"goldsmith relay: {reason}", file=sys.stderr)
    if error_file is not None:
        with error_file.open("a") as handle:
            handle.write(reason + "\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
