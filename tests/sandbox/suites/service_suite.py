"""Validation suite of tests/sandbox/recipes/enabled_service.yaml: the enabled service runs on an instance
booted from the AMI (never started by hand on it)."""

from __future__ import annotations

from typing import Any


def test_the_enabled_service_runs_after_boot(host: Any) -> None:
    host.run("timeout 60 systemctl is-system-running --wait")
    service = host.service("hello")
    assert service.is_enabled
    assert service.is_running
    assert host.file("/run/hello.started").exists
    assert host.file("/sbin/init").linked_to.endswith("/systemd")
    assert host.check_output("cat /proc/1/comm") == "systemd"
