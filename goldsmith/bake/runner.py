"""The runner: runs steps in order and unwinds the cleanups of every started step in reverse.

As in Packer's multistep, a step's cleanup is registered as soon as the step starts, so the step that
failed is cleaned up too, and steps never reached are not touched. Ctrl-C and SIGTERM become
Interrupted; while cleanups run, further signals are held off so the unwinding completes.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from goldsmith.bake.signals import Terminated, signals_held, signals_raise
from goldsmith.bake.state import StepRecord
from goldsmith.errors import BakeError, CleanupError, GoldsmithError, Interrupted

if TYPE_CHECKING:
    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.state import BuildState

__all__ = ["FAULT_ENV", "Step", "cleanup_steps", "inject_fault", "run_steps", "signals_held", "signals_raise"]

FAULT_ENV = "GOLDSMITH_FAULT"


class Step(Protocol):
    """One unit of the bake. `cleanup` undoes only what `run` recorded creating in the state."""

    name: str

    def run(self, state: BuildState, ctx: BakeContext) -> None: ...

    def cleanup(self, state: BuildState, ctx: BakeContext) -> None: ...


def inject_fault(step_name: str) -> None:
    """Test hook for the reliability suite: GOLDSMITH_FAULT=<step>:<error|SIGINT|SIGTERM|SIGKILL>.

    The fault fires at the end of the named step's run, when it has created what it creates: the
    moment that is hardest to clean up after.
    """
    spec = os.environ.get(FAULT_ENV, "")
    if not spec or ":" not in spec:
        return
    name, fault = spec.split(":", 1)
    if name != step_name:
        return
    if fault == "error":
        raise BakeError(f"injected fault in step {step_name}")
    if fault in ("SIGINT", "SIGTERM", "SIGKILL"):
        os.kill(os.getpid(), getattr(signal, fault))
        time.sleep(5)  # the signal arrives; SIGKILL never returns


def run_steps(steps: Sequence[Step], state: BuildState, ctx: BakeContext) -> None:
    """Run every step; on any failure or interrupt, clean up the started ones in reverse and re-raise."""
    started: list[Step] = []
    failure: BaseException | None = None
    try:
        with signals_raise():
            for step in steps:
                started.append(step)
                _run_one(step, state, ctx)
        state.outcome = "succeeded"
    except (KeyboardInterrupt, Terminated) as exc:
        state.outcome = "interrupted"
        which = "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
        failure = Interrupted(f"Interrupted by {which}; everything this build created has been cleaned up.")
        state.error = str(failure)
        _mark_running(state, "interrupted")
    except GoldsmithError as exc:
        state.outcome = "failed"
        failure = exc
        state.error = str(exc)
        _mark_running(state, "failed")
    except Exception as exc:
        state.outcome = "failed"
        failure = BakeError(f"unexpected error: {type(exc).__name__}: {exc}")
        failure.__cause__ = exc
        state.error = str(failure)
        _mark_running(state, "failed")
    with signals_held():
        leftovers = cleanup_steps(started, state, ctx)
    if failure is not None:
        if leftovers:
            failure.add_note(leftovers)
        raise failure
    if leftovers:
        raise CleanupError(leftovers)


def _run_one(step: Step, state: BuildState, ctx: BakeContext) -> None:
    record = StepRecord(name=step.name, started_at=time.time())
    state.steps.append(record)
    ctx.events.step_started(step.name)
    t0 = time.monotonic()
    step.run(state, ctx)
    inject_fault(step.name)
    record.duration = time.monotonic() - t0
    record.status = "ok"
    ctx.events.step_finished(step.name, "ok", record.duration)


def _mark_running(state: BuildState, status: str) -> None:
    for record in state.steps:
        if record.status == "running":
            record.status = status
            record.duration = time.time() - record.started_at


def cleanup_steps(started: Sequence[Step], state: BuildState, ctx: BakeContext) -> str:
    """Clean up in reverse; a failing cleanup is reported and the others still run."""
    problems: list[str] = []
    for step in reversed(started):
        try:
            step.cleanup(state, ctx)
        except Exception as exc:
            message = f"cleanup of {step.name} failed: {exc}"
            ctx.events.warn(message)
            problems.append(message)
    if not problems:
        return ""
    return "Some resources could not be removed; delete them manually:\n  " + "\n  ".join(problems)
