"""Bakes in worker threads (what pipelines do): Ctrl-C in the main thread cancels every running bake
through its cancel token, and each one unwinds and cleans up as a bake in the main thread would."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from goldsmith.bake.api import bake
from goldsmith.bake.context import BakeOptions
from goldsmith.engine.signals import CancelScope
from goldsmith.errors import Interrupted
from goldsmith.recipe.loader import load_recipe
from goldsmith.targets.sandbox import SandboxTarget
from tests.sandbox.helpers import REPO, build_ids, leftovers, manifest_of

pytestmark = pytest.mark.sandbox

BASE = REPO / "recipes" / "base.yaml"


def _provisioning(work: Path) -> bool:
    logs = list((work / "logs").glob("*.jsonl")) if (work / "logs").exists() else []
    return bool(logs) and "provision[0]" in logs[0].read_text()


def test_two_bakes_in_threads_cancelled_mid_provision_both_clean_up(
    sandbox: Any, sandbox_dir: Path, ec2: Any, tmp_path: Path
) -> None:
    slow = REPO / "recipes" / f".test-threads-{tmp_path.name}.yaml"
    slow.write_text(BASE.read_text().replace("provision:", "provision:\n  - {type: shell, inline: ['sleep 60']}", 1))
    works = [tmp_path / "a", tmp_path / "b"]
    outcomes: dict[Path, BaseException | None] = {}
    try:
        loaded = load_recipe(slow)

        def run(work: Path, scope: CancelScope) -> None:
            try:
                bake(loaded, SandboxTarget(state_dir=sandbox_dir), BakeOptions(work_dir=work), cancel=scope.token())
                outcomes[work] = None
            except BaseException as exc:
                outcomes[work] = exc

        with CancelScope() as scope:
            threads = [threading.Thread(target=run, args=(work, scope)) for work in works]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 120
            while not all(_provisioning(w) for w in works) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert all(_provisioning(w) for w in works), outcomes
            time.sleep(0.5)  # both are inside `sleep 60` on their instances
            t0 = time.monotonic()
            os.kill(os.getpid(), signal.SIGINT)
            for thread in threads:
                thread.join(timeout=120)
        unwound = time.monotonic() - t0
    finally:
        slow.unlink()
    assert scope.signal_name == "Ctrl-C"
    assert unwound < 50, f"the bakes took {unwound:.1f} s to stop; they should not wait for `sleep 60`"
    for work in works:
        assert isinstance(outcomes[work], Interrupted), outcomes[work]
        (build_id,) = build_ids(work)
        assert leftovers(ec2, build_id) == {}
        manifest = manifest_of(work, build_id)
        assert manifest["outcome"] == "interrupted"
        assert [s["status"] for s in manifest["steps"]][-1] == "interrupted"
        assert manifest["steps"][-1]["name"] == "provision"
