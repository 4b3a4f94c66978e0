"""Testinfra suite for images baked from recipes/web.yaml (WEB_PORT comes from the recipe's validate.env).

It checks what users check on a booted instance: lighttpd enabled, running, listening on the port, and
serving the page, inside the instance and to this machine (the recipe's validate.ingress opens the port
to the builder's address only).
"""

from __future__ import annotations

import os
import urllib.request
from typing import Any

import pytest

PORT = os.environ.get("WEB_PORT", "8080")
# An HTTP GET with nothing but bash (the image has no curl): the whole response on stdout.
HTTP_GET = (
    "exec 3<>/dev/tcp/127.0.0.1/{port} && printf 'GET / HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 "
    "&& timeout 10 cat <&3"
)


@pytest.fixture(scope="module", autouse=True)
def booted(host: Any) -> None:
    """Wait for the boot to finish (sshd may answer before every service has started), as on EC2."""
    state = host.run("timeout 60 systemctl is-system-running --wait").stdout.strip()
    assert state in ("running", "degraded"), f"the instance did not finish booting: {state!r}"


def test_built_on_base(host: Any) -> None:
    assert "baked by Goldsmith from recipe base" in host.file("/etc/motd").content_string


def test_lighttpd_is_installed(host: Any) -> None:
    assert host.package("lighttpd").is_installed


def test_config_listens_on_the_port(host: Any) -> None:
    config = host.file("/etc/lighttpd/lighttpd.conf")
    assert f"server.port          = {PORT}" in config.content_string
    assert host.run("/usr/sbin/lighttpd -t -f /etc/lighttpd/lighttpd.conf").rc == 0


def test_home_page(host: Any) -> None:
    page = host.file("/var/www/html/index.html")
    assert "Served from a Goldsmith golden image" in page.content_string
    assert page.mode == 0o644


def test_no_service_policy_left_behind(host: Any) -> None:
    assert not host.file("/usr/sbin/policy-rc.d").exists


def test_lighttpd_is_enabled_and_running(host: Any) -> None:
    service = host.service("lighttpd")
    assert service.is_enabled
    assert service.is_running


def test_lighttpd_listens_on_the_port(host: Any) -> None:
    assert host.socket(f"tcp://0.0.0.0:{PORT}").is_listening  # lighttpd.conf: every IPv4 address, no IPv6


def test_http_get_returns_the_page(host: Any) -> None:
    response = host.check_output("bash -c %s", HTTP_GET.format(port=PORT))
    assert response.startswith("HTTP/1.0 200 OK"), response[:200]
    assert "Served from a Goldsmith golden image" in response


def test_http_get_from_this_machine_through_the_validation_ingress(host: Any) -> None:
    address = host.backend.get_hostname()  # where the suite reached the instance (its public or private address)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # straight to the instance
    with opener.open(f"http://{address}:{PORT}/", timeout=10) as response:
        assert response.status == 200
        assert "Served from a Goldsmith golden image" in response.read().decode()
