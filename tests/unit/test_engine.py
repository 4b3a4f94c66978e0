"""The engine: cancellation tokens, cancelled runs unwinding like interrupted ones (also in worker
threads, reached by Ctrl-C through a CancelScope), and failed steps named in the JSON log."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from goldsmith.engine.cancel import Cancelled, CancelToken
from goldsmith.engine.runner import RunState, run_steps
from goldsmith.engine.signals import CancelScope
from goldsmith.errors import BakeError, Interrupted
from goldsmith.report.events import Events
from goldsmith.report.redact import Redactor


@dataclass
class Ctx:
    events: Events
    cancel: CancelToken = field(default_factory=CancelToken)


@dataclass
class State(RunState):
    calls: list[str] = field(default_factory=list)


class Step:
    def __init__(self, name: str, *, wait: float = 0.0, fail: bool = False, cleanup_wait: float = 0.0) -> None:
        self.name = name
        self.wait = wait
        self.fail = fail
        self.cleanup_wait = cleanup_wait

    def run(self, state: State, ctx: Ctx) -> None:
        state.calls.append(f"run {self.name}")
        if self.wait:
            ctx.cancel.sleep(self.wait)  # a long wait, as AWS waiters and SSH commands do
        if self.fail:
            raise BakeError(f"{self.name} broke")

    def cleanup(self, state: State, ctx: Ctx) -> None:
        if self.cleanup_wait:
            ctx.cancel.sleep(self.cleanup_wait)  # held: a cleanup's wait runs its course
        state.calls.append(f"clean {self.name}")


def _ctx(tmp_path: Path, name: str = "log") -> Ctx:
    return Ctx(events=Events(tmp_path / f"{name}.jsonl", None, Redactor(), name))


def _events(tmp_path: Path, name: str = "log") -> list[dict[str, object]]:
    return [json.loads(line) for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]


def test_a_failed_step_is_logged_as_failed_with_its_error(tmp_path: Path) -> None:
    ctx, state = _ctx(tmp_path), State()
    with pytest.raises(BakeError):
        run_steps([Step("a"), Step("b", fail=True)], state, ctx)
    ctx.events.close()
    finished = [(e["step"], e["status"], e["error"]) for e in _events(tmp_path) if e["event"] == "step_finished"]
    assert finished == [("a", "ok", ""), ("b", "failed", "b broke")]
    assert [s.status for s in state.steps] == ["ok", "failed"]


def test_cancelling_a_run_unwinds_it_and_its_cleanups_are_not_cut_short(tmp_path: Path) -> None:
    ctx, state = _ctx(tmp_path), State()
    threading.Timer(0.2, ctx.cancel.cancel, args=("pipeline stopped",)).start()
    t0 = time.monotonic()
    with pytest.raises(Interrupted, match="pipeline stopped") as info:
        run_steps([Step("a", cleanup_wait=0.3), Step("b", wait=30), Step("c")], state, ctx)
    assert time.monotonic() - t0 < 5  # the 30 s wait stopped at once; a's cleanup waited its 0.3 s
    assert info.value.exit_code == 130
    assert state.calls == ["run a", "run b", "clean b", "clean a"]
    assert state.outcome == "interrupted" and [s.status for s in state.steps] == ["ok", "interrupted"]


def test_a_run_cancelled_before_it_starts_runs_nothing(tmp_path: Path) -> None:
    ctx, state = _ctx(tmp_path), State()
    ctx.cancel.cancel()
    with pytest.raises(Interrupted):
        run_steps([Step("a")], state, ctx)
    assert state.calls == []


def test_tokens_children_and_holding() -> None:
    parent = CancelToken()
    child = parent.child()
    sibling = parent.child()
    sibling.cancel("one copy failed")
    assert not parent.cancelled and not child.cancelled
    parent.cancel("Ctrl-C")
    assert child.cancelled and child.reason == "Ctrl-C" and sibling.reason == "one copy failed"
    late = parent.child()
    assert late.cancelled  # a child made after the cancel is born cancelled
    with pytest.raises(Cancelled):
        child.check()
    with child.held():
        child.check()
        t0 = time.monotonic()
        child.sleep(0.2)
        assert time.monotonic() - t0 >= 0.19
    with pytest.raises(Cancelled):
        child.sleep(10)


def test_ctrl_c_cancels_every_run_in_worker_threads_and_each_cleans_up(tmp_path: Path) -> None:
    """Two runs in threads; SIGINT in the main thread reaches them only through the scope's tokens."""
    results: dict[str, BaseException | None] = {}
    states = {name: State() for name in ("x", "y")}
    started = threading.Barrier(3)

    class Waiting(Step):
        def run(self, state: State, ctx: Ctx) -> None:
            started.wait(timeout=5)
            super().run(state, ctx)

    def work(name: str, token: CancelToken) -> None:
        ctx = Ctx(events=Events(tmp_path / f"{name}.jsonl", None, Redactor(), name), cancel=token)
        try:
            run_steps([Step("launch"), Waiting("provision", wait=60), Step("stop")], states[name], ctx)
            results[name] = None
        except BaseException as exc:
            results[name] = exc

    before = signal.getsignal(signal.SIGINT)
    with CancelScope() as scope:
        threads = [threading.Thread(target=work, args=(n, scope.token())) for n in states]
        for thread in threads:
            thread.start()
        started.wait(timeout=5)
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C must not cut the cleanups short
        for thread in threads:
            thread.join(timeout=10)
    assert signal.getsignal(signal.SIGINT) == before
    assert scope.signal_name == "Ctrl-C"
    for name, state in states.items():
        assert isinstance(results[name], Interrupted), results[name]
        assert state.calls == ["run launch", "run provision", "clean provision", "clean launch"]


def test_a_scoped_test_fault_fires_only_in_runs_of_that_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from goldsmith.engine.runner import FAULT_ENV, inject_fault
    from goldsmith.errors import BakeError

    monkeypatch.setenv(FAULT_ENV, "hardened/validation:launch-instance:error")
    inject_fault("validation:launch-instance", "base-20261203-1")  # another run: nothing
    inject_fault("provision", "hardened-20261203-1")  # another step: nothing
    with pytest.raises(BakeError, match="injected fault in step validation:launch-instance"):
        inject_fault("validation:launch-instance", "hardened-20261203-1")
    monkeypatch.setenv(FAULT_ENV, "provision:error")  # unscoped: every run
    with pytest.raises(BakeError):
        inject_fault("provision", "")
