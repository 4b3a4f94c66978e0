"""The ProxyCommand used by validation suites fails at once when its command exits."""

from __future__ import annotations

import time

import paramiko
import pytest
from paramiko.ssh_exception import ProxyCommandFailure

from goldsmith.ssh.proxycommand import EofAwareProxyCommand, install


def test_a_command_that_exits_without_output_fails_at_once_with_its_status() -> None:
    proxy = EofAwareProxyCommand("sh -c 'exit 3'")
    proxy.settimeout(15)  # paramiko's banner timeout: its own ProxyCommand would spin until it ran out
    start = time.monotonic()
    with pytest.raises(ProxyCommandFailure, match="exited with status 3"):
        proxy.recv(64)
    assert time.monotonic() - start < 5
    proxy.close()  # the process is gone already: closing is quiet


def test_data_before_the_end_is_returned_then_the_end_fails() -> None:
    proxy = EofAwareProxyCommand("printf 'SSH-2.0-x'")
    data = b""
    with pytest.raises(ProxyCommandFailure):
        while True:
            data += proxy.recv(64)
    assert data == b"SSH-2.0-x"
    proxy.close()


def test_a_quiet_command_still_times_out_as_a_socket_would() -> None:
    proxy = EofAwareProxyCommand("sleep 5")
    proxy.settimeout(0.2)
    with pytest.raises(TimeoutError):  # socket.timeout
        proxy.recv(1)
    proxy.close()


def test_install_replaces_the_class_testinfra_looks_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paramiko, "ProxyCommand", paramiko.ProxyCommand)  # put back after the test
    install()
    assert paramiko.ProxyCommand is EofAwareProxyCommand
