"""Image suites test a baked instance, not this machine: skip them unless a host is given.

Goldsmith's validate step runs them with testinfra's `--hosts` (or sets GOLDSMITH_IMAGE_SUITES=1 when
it provides the `host` fixture another way); a plain `pytest` of the repository skips them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("hosts", default=None) or os.environ.get("GOLDSMITH_IMAGE_SUITES"):
        return
    skip = pytest.mark.skip(reason="image suite: runs against a baked instance (pass --hosts)")
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(skip)
