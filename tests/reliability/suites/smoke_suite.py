"""The reliability recipe's validation suite (not collected by the project's pytest: no test_ prefix)."""

from __future__ import annotations

from typing import Any


def test_the_provisioned_file_is_there(host: Any) -> None:
    assert host.file("/data/greeting").content_string.strip() == "hello from the reliability suite"
