"""Testinfra suite for images baked from recipes/base.yaml (run by Goldsmith's validate step)."""

from __future__ import annotations

from typing import Any


def test_motd_names_the_recipe(host: Any) -> None:
    motd = host.file("/etc/motd")
    assert motd.is_file
    assert "baked by Goldsmith from recipe base" in motd.content_string
    assert motd.mode == 0o644


def test_tree_is_installed(host: Any) -> None:
    assert host.package("tree").is_installed
    assert host.run("tree --version").rc == 0


def test_data_volume_was_written(host: Any) -> None:
    data = host.file("/data/file")
    assert data.is_file
    assert data.content_string.strip() == "baked by goldsmith"


def test_bake_left_no_traces(host: Any) -> None:
    assert not host.file("/root/.bash_history").exists
    assert host.run("ls -d /tmp/goldsmith-* 2>/dev/null").stdout.strip() == ""
