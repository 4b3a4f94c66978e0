"""Open an authenticated SSH transport, waiting for a booting instance and jumping via a bastion.

A new instance refuses connections, resets them, stalls in the banner or rejects the key (cloud-init
has not written authorized_keys yet) for a while; all of that is retried with a short, growing,
jittered pause until the caller's deadline. A host key different from the pinned one is never
retried: it means someone else answers at that address.
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from goldsmith.engine.cancel import NEVER, CancelToken
from goldsmith.errors import SshError
from goldsmith.ssh import hostkeys
from goldsmith.ssh.endpoint import SshTarget

if TYPE_CHECKING:
    import paramiko  # imported by the functions that connect: a bake that reuses an image never does

# Big windows keep SFTP and streamed output from stalling on window adjustments.
WINDOW_SIZE = 2**27
MAX_PACKET_SIZE = 2**15
FIRST_PAUSE = 0.05
MAX_PAUSE = 2.0
ATTEMPT_TIMEOUT = 15.0
KEEPALIVE_SECONDS = 15
# AES-GCM needs no separate MAC pass: about a third faster than paramiko's default aes128-ctr + HMAC.
PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")

RetryHook = Callable[[int, str], None]


class HostKeyChanged(SshError):
    """The server shows a key other than the pinned one; connecting again would not help."""


@dataclass
class Connection:
    """An authenticated transport plus the bastion connection(s) it runs through."""

    transport: paramiko.Transport
    host_key: str
    jumps: list[Connection] = field(default_factory=list)

    def close(self) -> None:
        """Close the target first, then the jump hosts."""
        self.transport.close()
        for jump in self.jumps:
            jump.close()


def describe_error(exc: BaseException) -> str:
    """A short reason for a failed attempt, safe to log (paramiko errors carry no secrets)."""
    import paramiko

    if isinstance(exc, paramiko.AuthenticationException):
        return "authentication failed (the key is not authorized yet, or the user name is wrong)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, EOFError):
        return "connection closed during the handshake"
    if isinstance(exc, paramiko.ChannelException):
        return f"the bastion could not reach the target ({exc.text})"
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def _pause(attempt: int) -> float:
    """50 ms, 100 ms, 200 ms ... capped at 2 s, with +-20 % jitter so retries do not align."""
    base = min(MAX_PAUSE, FIRST_PAUSE * 2 ** (attempt - 1))
    return float(base * random.uniform(0.8, 1.2))


def open_connection(
    target: SshTarget,
    *,
    timeout: float,
    known_host_key: str | None = None,
    on_retry: RetryHook | None = None,
    cancel: CancelToken = NEVER,
) -> Connection:
    """Connect and authenticate, retrying transient failures until ``timeout`` seconds have passed.

    ``known_host_key`` (else ``target.known_host_key``) pins the target's key; the bastion is pinned by
    its own ``known_host_key``. Either mismatch raises HostKeyChanged at once. The pauses between
    attempts sleep on ``cancel``.
    """
    import paramiko

    known_host_key = known_host_key or target.known_host_key
    pin = hostkeys.pin_fingerprint(known_host_key) if known_host_key else None
    pin_types = hostkeys.pin_key_types(known_host_key) if known_host_key else None
    start = time.monotonic()
    deadline = start + timeout
    attempt = 0
    jump: Connection | None = None
    while True:
        cancel.check()
        try:
            if target.bastion is not None and (jump is None or not jump.transport.is_active()):
                jump = open_connection(
                    target.bastion,
                    timeout=max(0.1, deadline - time.monotonic()),
                    known_host_key=target.bastion.known_host_key,
                    cancel=cancel,
                )
            connection = _attempt_pinned(target, pin, jump, max(0.1, deadline - time.monotonic()), pin_types)
            if jump is not None:
                connection.jumps.append(jump)
            return connection
        except HostKeyChanged:
            if jump is not None:
                jump.close()
            raise
        except (OSError, EOFError, paramiko.SSHException) as exc:
            attempt += 1
            last = describe_error(exc)
            left = deadline - time.monotonic()
            if left <= 0:
                if jump is not None:
                    jump.close()
                raise SshError(
                    f"could not connect to {target.describe()} over SSH: tried {attempt} times for "
                    f"{time.monotonic() - start:.1f} s; last error: {last}. Check that the instance is "
                    "running, the security group lets this machine in, and the user name and key are right."
                ) from exc
            if on_retry is not None:
                on_retry(attempt, last)
            try:
                cancel.sleep(min(_pause(attempt), left))
            except BaseException:
                if jump is not None:
                    jump.close()
                raise


def _open_socket(target: SshTarget, jump: Connection | None, timeout: float) -> socket.socket | paramiko.Channel:
    if jump is None:
        sock = socket.create_connection((target.host, target.port), timeout=timeout)
        try:
            # SSH is request/response (SFTP calls, short commands): without this, Nagle holds each small
            # request until the delayed ACK of the previous one, ~40 ms per round trip on Linux.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            sock.close()
            raise
        return sock
    return jump.transport.open_channel("direct-tcpip", (target.host, target.port), ("127.0.0.1", 0), timeout=timeout)


def _attempt_pinned(
    target: SshTarget, pin: str | None, jump: Connection | None, left: float, pin_types: tuple[str, ...] | None
) -> Connection:
    """An attempt that asks for the pinned key's type; a bare fingerprint that does not match the key the
    server prefers is tried against its other key types before the key counts as changed."""
    import paramiko

    if pin is None or pin_types is not None:
        return _attempt(target, pin, jump, left, pin_types)
    started = time.monotonic()
    try:
        return _attempt(target, pin, jump, left)
    except HostKeyChanged as first:
        for key_types in hostkeys.FINGERPRINT_KEY_TYPES:
            try:
                return _attempt(target, pin, jump, max(0.1, left - (time.monotonic() - started)), key_types)
            except HostKeyChanged:
                continue
            except paramiko.SSHException as exc:  # the server has no key of these types
                if "host key" not in str(exc).lower() and "incompatible" not in str(exc).lower():
                    raise
        raise first


def _attempt(
    target: SshTarget, pin: str | None, jump: Connection | None, left: float,
    key_types: tuple[str, ...] | None = None,
) -> Connection:
    """One connection attempt: socket, handshake, host-key check, public-key authentication."""
    import paramiko

    limit = min(left, ATTEMPT_TIMEOUT)
    sock = _open_socket(target, jump, limit)
    transport = paramiko.Transport(sock, default_window_size=WINDOW_SIZE, default_max_packet_size=MAX_PACKET_SIZE)
    try:
        transport.banner_timeout = limit
        transport.handshake_timeout = limit
        transport.auth_timeout = limit
        options = transport.get_security_options()
        options.ciphers = PREFERRED_CIPHERS + tuple(c for c in options.ciphers if c not in PREFERRED_CIPHERS)
        if key_types is not None:
            options.key_types = key_types  # the server must show the key type we pinned
        transport.start_client(timeout=limit)
        server_key = transport.get_remote_server_key()
        if pin is not None and hostkeys.fingerprint(server_key) != pin:
            raise HostKeyChanged(
                f"host key of {target.address} changed: expected {pin}, the server shows "
                f"{hostkeys.fingerprint(server_key)}; refusing to connect (another machine may answer at "
                "this address)"
            )
        transport.auth_publickey(target.username, target.key.pkey)
        if not transport.is_authenticated():
            raise paramiko.AuthenticationException("public key not accepted")
        transport.set_keepalive(KEEPALIVE_SECONDS)
        return Connection(transport, hostkeys.key_line(server_key))
    except BaseException:
        transport.close()
        sock.close()
        raise
