"""The runner: steps run in order, every started step is cleaned up in reverse, on every path."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any, cast

import pytest

from goldsmith.bake.api import announce_image
from goldsmith.bake.context import BakeContext, BakeOptions
from goldsmith.bake.state import BuildState
from goldsmith.engine.journal import Journal, load_journal
from goldsmith.engine.runner import FAULT_ENV, run_steps
from goldsmith.errors import BakeError, CleanupError, Interrupted
from goldsmith.report.events import Events
from goldsmith.report.redact import Redactor


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []


class FakeStep:
    def __init__(self, name: str, rec: Recorder, *, fail: BaseException | None = None,
                 signal_to_send: int | None = None, cleanup_fails: bool = False) -> None:
        self.name = name
        self.rec = rec
        self.fail = fail
        self.signal_to_send = signal_to_send
        self.cleanup_fails = cleanup_fails

    def run(self, state: BuildState, ctx: BakeContext) -> None:
        self.rec.calls.append(f"run {self.name}")
        if self.signal_to_send is not None:
            os.kill(os.getpid(), self.signal_to_send)
        if self.fail is not None:
            raise self.fail

    def cleanup(self, state: BuildState, ctx: BakeContext) -> None:
        self.rec.calls.append(f"clean {self.name}")
        if self.cleanup_fails:
            raise BakeError(f"delete manually: thing-of-{self.name}")


@pytest.fixture
def ctx(tmp_path: Path) -> BakeContext:
    events = Events(tmp_path / "log.jsonl", None, Redactor(), "b-1")
    journal = Journal(path=tmp_path / "journal.json", build_id="b-1")
    return BakeContext(aws=cast(Any, None), target=cast(Any, None), loaded=cast(Any, None), journal=journal,
                       events=events, waits=cast(Any, None), options=BakeOptions(work_dir=tmp_path))


def state() -> BuildState:
    return BuildState(build_id="b-1", region="us-east-1", facts={}, tags={})


def test_success_runs_all_then_cleans_all_in_reverse(ctx: BakeContext) -> None:
    rec = Recorder()
    st = state()
    run_steps([FakeStep("a", rec), FakeStep("b", rec)], st, ctx)
    assert rec.calls == ["run a", "run b", "clean b", "clean a"]
    assert st.outcome == "succeeded"
    assert [s.status for s in st.steps] == ["ok", "ok"]


class DoneStep(FakeStep):
    """A step that finds the run's work already done (as the bake's check-cache does on a hit)."""

    def run(self, state: BuildState, ctx: BakeContext) -> None:
        super().run(state, ctx)
        state.done = True


def test_a_step_that_finds_the_work_done_ends_the_run_as_a_success(ctx: BakeContext) -> None:
    rec = Recorder()
    st = state()
    run_steps([FakeStep("a", rec), DoneStep("b", rec), FakeStep("c", rec)], st, ctx)
    assert rec.calls == ["run a", "run b", "clean b", "clean a"]  # c never runs, nor is cleaned
    assert st.outcome == "succeeded"
    assert [(s.name, s.status) for s in st.steps] == [("a", "ok"), ("b", "ok")]


def test_error_cleans_started_steps_including_the_failing_one(ctx: BakeContext) -> None:
    rec = Recorder()
    st = state()
    steps = [FakeStep("a", rec), FakeStep("b", rec, fail=BakeError("boom")), FakeStep("c", rec)]
    with pytest.raises(BakeError, match="boom"):
        run_steps(steps, st, ctx)
    assert rec.calls == ["run a", "run b", "clean b", "clean a"]
    assert st.outcome == "failed"
    assert [s.status for s in st.steps] == ["ok", "failed"]


def test_unexpected_exception_becomes_bake_error(ctx: BakeContext) -> None:
    rec = Recorder()
    with pytest.raises(BakeError, match="unexpected error: ValueError: odd"):
        run_steps([FakeStep("a", rec, fail=ValueError("odd"))], state(), ctx)
    assert rec.calls == ["run a", "clean a"]


class CancelThenFail(FakeStep):
    """A step whose AWS call fails because of what cancelled the run (another thread removed its AMI)."""

    def run(self, state: BuildState, ctx: BakeContext) -> None:
        ctx.cancel.cancel("root failed, and mid builds on its image")
        super().run(state, ctx)


def test_an_error_raised_once_the_run_is_cancelled_is_a_cancellation(ctx: BakeContext) -> None:
    rec = Recorder()
    st = state()
    with pytest.raises(Interrupted, match="Cancelled \\(root failed, and mid builds on its image\\)") as info:
        run_steps([FakeStep("a", rec), CancelThenFail("b", rec, fail=BakeError("volume does not exist"))], st, ctx)
    assert "volume does not exist" in "".join(getattr(info.value, "__notes__", []))
    assert rec.calls == ["run a", "run b", "clean b", "clean a"]
    assert st.outcome == "interrupted"


def test_an_announced_image_is_withdrawn_before_the_steps_that_remove_it_clean_up(ctx: BakeContext) -> None:
    """A pipeline stops the bakes built on an image before its snapshots are deleted, not after."""
    rec = Recorder()

    class Register(FakeStep):
        def run(self, state: BuildState, ctx: BakeContext) -> None:
            super().run(state, ctx)
            state.image_id = "ami-1"

    hooks = {"announce": lambda region, image: rec.calls.append(f"ready {image}"),
             "withdraw": lambda region, image: rec.calls.append(f"withdrawn {image}")}
    steps = announce_image([Register("register-image", rec), FakeStep("validate-image", rec),
                            FakeStep("share-image", rec, fail=BakeError("boom"))], **hooks)
    with pytest.raises(BakeError):
        run_steps(steps, state(), ctx)
    assert rec.calls == ["run register-image", "run validate-image", "ready ami-1", "run share-image",
                         "clean share-image", "withdrawn ami-1", "clean validate-image", "clean register-image"]
    rec.calls.clear()
    run_steps(announce_image([Register("register-image", rec), FakeStep("validate-image", rec)], **hooks),
              state(), ctx)
    assert "withdrawn ami-1" not in rec.calls


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_cleans_up_and_raises_interrupted(ctx: BakeContext, signum: int) -> None:
    rec = Recorder()
    st = state()
    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    steps = [FakeStep("a", rec), FakeStep("b", rec, signal_to_send=signum), FakeStep("c", rec)]
    with pytest.raises(Interrupted) as info:
        run_steps(steps, st, ctx)
    assert info.value.exit_code == 130
    assert rec.calls == ["run a", "run b", "clean b", "clean a"]
    assert st.outcome == "interrupted"
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_failing_cleanup_is_reported_and_others_still_run(ctx: BakeContext) -> None:
    rec = Recorder()
    with pytest.raises(CleanupError, match="delete manually: thing-of-b"):
        run_steps([FakeStep("a", rec), FakeStep("b", rec, cleanup_fails=True)], state(), ctx)
    assert rec.calls == ["run a", "run b", "clean b", "clean a"]


def test_failing_cleanup_after_failure_keeps_the_original_error(ctx: BakeContext) -> None:
    rec = Recorder()
    with pytest.raises(BakeError, match="boom") as info:
        run_steps([FakeStep("a", rec, cleanup_fails=True), FakeStep("b", rec, fail=BakeError("boom"))], state(), ctx)
    assert "delete manually: thing-of-a" in "\n".join(info.value.__notes__)


def test_injected_fault_fires_after_the_named_step(ctx: BakeContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAULT_ENV, "b:error")
    rec = Recorder()
    with pytest.raises(BakeError, match="injected fault in step b"):
        run_steps([FakeStep("a", rec), FakeStep("b", rec), FakeStep("c", rec)], state(), ctx)
    assert rec.calls == ["run a", "run b", "clean b", "clean a"]


def test_journal_is_valid_json_after_every_write(tmp_path: Path) -> None:
    journal = Journal(path=tmp_path / "j.json", build_id="b-2", recipe="base")
    entry = journal.intent("key-pair", "us-east-1", "goldsmith-b-2")
    assert load_journal(journal.path).entries[0].status == "creating"
    journal.created(entry, "key-123")
    snap = journal.intent("snapshot", "us-east-1", "snapshots of i-1")
    journal.created_many(snap, {"i-1:vol-1": "snap-1", "i-1:vol-2": "snap-2"})
    journal.deleted("key-pair", "key-123")
    loaded = load_journal(journal.path)
    assert [(e.kind, e.id, e.status) for e in loaded.entries] == [
        ("key-pair", "key-123", "deleted"),
        ("snapshot", "snap-1", "created"),
        ("snapshot", "snap-2", "created"),
    ]
    assert [e.id for e in loaded.live()] == ["snap-1", "snap-2"]
    assert json.loads(journal.path.read_text())["build_id"] == "b-2"
    assert not list(tmp_path.glob(".*.tmp"))


def test_journal_knows_whether_its_bake_is_still_running(tmp_path: Path) -> None:
    import subprocess

    child = subprocess.Popen(["sleep", "30"])
    try:
        journal = Journal(path=tmp_path / "j.json", build_id="b-3", pid=child.pid)
        journal.intent("instance", "us-east-1", "b-3-build")
        assert load_journal(journal.path).still_running()
        journal.finish("failed")
        assert not load_journal(journal.path).still_running()
        journal.status = "running"
        journal.finish("running")
    finally:
        child.kill()
        child.wait()
    assert not load_journal(journal.path).still_running()  # the process is gone


def test_journal_exists_before_anything_is_created(tmp_path: Path) -> None:
    journal = Journal(path=tmp_path / "builds" / "b-4.json", build_id="b-4", recipe="base")
    journal.save()
    loaded = load_journal(journal.path)
    assert (loaded.build_id, loaded.status, loaded.entries) == ("b-4", "running", [])


@pytest.mark.parametrize(("signum", "raised"), [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, BaseException)])
def test_a_signal_during_a_create_call_waits_until_its_id_is_recorded(signum: int, raised: type[BaseException]) -> None:
    from goldsmith.engine.signals import Terminated, create_then_record

    recorded: list[str] = []
    with pytest.raises(raised) as info, create_then_record():
        os.kill(os.getpid(), signum)  # arrives while "RunInstances" is in flight
        recorded.append("i-0123")  # the id is still recorded
    assert recorded == ["i-0123"]
    assert isinstance(info.value, KeyboardInterrupt if signum == signal.SIGINT else Terminated)


def test_interrupt_during_a_create_still_cleans_up_what_it_made(ctx: BakeContext) -> None:
    from goldsmith.engine.signals import create_then_record

    rec = Recorder()

    class Creating(FakeStep):
        def run(self, state: BuildState, ctx: BakeContext) -> None:
            with create_then_record():
                os.kill(os.getpid(), signal.SIGINT)
                state.build.instance_id = "i-0123"
            rec.calls.append("never reached")

        def cleanup(self, state: BuildState, ctx: BakeContext) -> None:
            rec.calls.append(f"terminate {state.build.instance_id}")

    with pytest.raises(Interrupted):
        run_steps([Creating("launch", rec)], state(), ctx)
    assert rec.calls == ["terminate i-0123"]
