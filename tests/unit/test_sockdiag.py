"""sock_diag: the kernel's list of listening TCP sockets, per network namespace (the runtime's readiness check)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from goldsmith.sandbox import runtime, sockdiag
from goldsmith.sandbox.runtime import _wait_ready

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="joining another network namespace takes root")


def _netns_inode() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


def _has_ipv6_loopback() -> bool:
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="this host has no IPv6 loopback")
def test_listening_ports_of_this_namespace_ipv4_and_ipv6_and_only_listeners() -> None:
    here = Path("/proc/self/ns/net")
    with sockdiag.open_in_netns(here) as diag, socket.create_server(("127.0.0.1", 0)) as v4, \
            socket.create_server(("::1", 0), family=socket.AF_INET6) as v6:
        port4, port6 = v4.getsockname()[1], v6.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port4))
        peer, _ = v4.accept()
        try:
            ports = sockdiag.listening_tcp_ports(diag)
            assert {port4, port6} <= ports
            assert client.getsockname()[1] not in ports  # an established socket is not a listener
        finally:
            client.close()
            peer.close()
        v4.close()
        assert port4 not in sockdiag.listening_tcp_ports(diag)


def test_a_file_that_is_no_namespace_is_refused() -> None:
    with pytest.raises(OSError):
        sockdiag.open_in_netns(Path(__file__))


@pytest.fixture
def netns() -> Iterator[Path]:
    name = f"gs-test-diag-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield Path("/run/netns") / name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def _listen_in(netns: Path, port: int) -> subprocess.Popen[str]:
    """A process that listens on `port` inside `netns` and says so on stdout."""
    code = (f"import socket,sys,time; s=socket.create_server(('0.0.0.0',{port})); print('up', flush=True); "
            "time.sleep(60)")
    proc = subprocess.Popen(["ip", "netns", "exec", netns.name, sys.executable, "-c", code],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "up"
    return proc


@needs_root
def test_another_namespace_sees_its_own_listeners_not_the_hosts(netns: Path) -> None:
    before = _netns_inode()
    with socket.create_server(("0.0.0.0", 0)) as host_listener, sockdiag.open_in_netns(netns) as diag:
        host_port = host_listener.getsockname()[1]
        assert host_port not in sockdiag.listening_tcp_ports(diag)
        guest = _listen_in(netns, 2222)
        try:
            assert 2222 in sockdiag.listening_tcp_ports(diag)
        finally:
            guest.kill()
            guest.wait()
    # setns happened in a thread that has ended: this thread is where it was, and no helper is left
    assert _netns_inode() == before
    assert not [t for t in threading.enumerate() if t.name == "sockdiag-setns"]


@needs_root
def test_wait_ready_asks_the_instance_namespace(netns: Path) -> None:
    """Ready only once something listens inside the namespace; the host's own listener never counts."""
    launcher = subprocess.Popen(["sleep", "30"])
    try:
        with socket.create_server(("0.0.0.0", 0)) as host_listener:
            assert not _wait_ready(launcher, host_listener.getsockname()[1], 0.3, netns)
        guest = _listen_in(netns, 2223)
        try:
            started = time.monotonic()
            assert _wait_ready(launcher, 2223, 5.0, netns)
            assert time.monotonic() - started < 1.0
        finally:
            guest.kill()
            guest.wait()
    finally:
        launcher.kill()
        launcher.wait()
    assert not _wait_ready(launcher, 2223, 5.0, netns)  # an exited launcher is never ready


@needs_root
def test_without_sock_diag_readiness_falls_back_to_proc(netns: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable(_netns: Path) -> socket.socket:
        raise OSError(93, "Protocol not supported")

    read_proc: list[int] = []
    real_listening = runtime._listening

    def listening(pid: int, port: int) -> bool:
        read_proc.append(pid)
        return real_listening(pid, port)

    monkeypatch.setattr(runtime.sockdiag, "open_in_netns", unavailable)
    monkeypatch.setattr(runtime, "_listening", listening)
    guest = _listen_in(netns, 2224)
    try:
        # the fallback reads the namespace through the launcher's /proc/PID/net: the listener itself is one
        assert _wait_ready(guest, 2224, 5.0, netns)
        assert read_proc and set(read_proc) == {guest.pid}
    finally:
        guest.kill()
        guest.wait()
