"""The validation suite of the benchmarks' validated reference bake (no test_ prefix: the project's pytest
does not collect it)."""

from __future__ import annotations

from typing import Any


def test_the_bake_left_its_marks(host: Any) -> None:
    assert host.file("/etc/goldsmith-bench").content_string.startswith("baked by goldsmith")
    assert host.file("/data/payload.bin").size > 0
