"""Testinfra suite for images baked from recipes/web.yaml (WEB_PORT comes from the recipe's validate.env)."""

from __future__ import annotations

import os
from typing import Any

PORT = os.environ.get("WEB_PORT", "8080")


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
