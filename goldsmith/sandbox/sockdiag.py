"""Which TCP ports listen in a network namespace, asked of the kernel with netlink sock_diag (as `ss -l` does).

The runtime polls this every 10 ms while an instance boots, to know when its sshd listens. Reading
/proc/PID/net/tcp and tcp6 instead walks the whole host's TCP hash tables on every read (~3.6 ms of CPU per
poll on a 24 GiB host, whatever the namespace holds): ten instances booting at once spent seconds of CPU
on it. A sock_diag dump of listening sockets only walks the listening table: ~0.04 ms.

A netlink socket belongs to the network namespace it was created in, so `open_in_netns` creates it from a
short-lived thread that joins the namespace first (setns applies to the calling thread only; that thread
then ends, so no thread of the caller is ever left in the instance's namespace).
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct
import threading
from pathlib import Path

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
TCP_LISTEN = 10
CLONE_NEWNET = 0x40000000
_HEADER = struct.Struct("=IHHII")  # struct nlmsghdr
_REQUEST = struct.Struct("=BBBBI48x")  # struct inet_diag_req_v2: family, protocol, ext, pad, states, sockid
_SPORT_OFFSET = 4  # in struct inet_diag_msg: family, state, timer, retrans, then the sockid's sport (big endian)


def open_in_netns(netns: Path) -> socket.socket:
    """A sock_diag socket of the network namespace `netns` (e.g. /run/netns/NAME). OSError if it cannot be made."""
    made: list[socket.socket] = []
    failed: list[OSError] = []

    def join_and_open() -> None:
        try:
            fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns into {netns}: {os.strerror(err)}")
            finally:
                os.close(fd)
            made.append(socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, NETLINK_SOCK_DIAG))
        except OSError as exc:
            failed.append(exc)

    thread = threading.Thread(target=join_and_open, name="sockdiag-setns", daemon=True)
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return made[0]


def listening_tcp_ports(sock: socket.socket) -> set[int]:
    """Local ports of the TCP sockets (IPv4 and IPv6) listening in the socket's network namespace."""
    ports: set[int] = set()
    for seq, family in enumerate((socket.AF_INET, socket.AF_INET6), start=1):
        request = _REQUEST.pack(family, socket.IPPROTO_TCP, 0, 0, 1 << TCP_LISTEN)
        sock.send(_HEADER.pack(_HEADER.size + len(request), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
                  + request)
        ports |= _read_dump(sock, seq)
    return ports


def _read_dump(sock: socket.socket, seq: int) -> set[int]:
    """The source ports of one dump's messages, up to its NLMSG_DONE."""
    ports: set[int] = set()
    while True:
        data = sock.recv(65536)
        offset = 0
        while offset + _HEADER.size <= len(data):
            length, kind, _flags, msg_seq, _pid = _HEADER.unpack_from(data, offset)
            if length < _HEADER.size:
                raise OSError(f"sock_diag: malformed netlink message of {length} bytes")
            if msg_seq == seq:
                if kind == NLMSG_DONE:
                    return ports
                if kind == NLMSG_ERROR:
                    errno = -struct.unpack_from("=i", data, offset + _HEADER.size)[0]
                    raise OSError(errno, f"sock_diag: {os.strerror(errno)}")
                if kind == SOCK_DIAG_BY_FAMILY:
                    ports.add(struct.unpack_from("!H", data, offset + _HEADER.size + _SPORT_OFFSET)[0])
            offset += (length + 3) & ~3
