"""The runner: runs a sequence's steps in order and unwinds the cleanups of every started step in reverse.

As in Packer's multistep, a step's cleanup is registered as soon as the step starts, so the step that
failed is cleaned up too, and steps never reached are not touched. Ctrl-C and SIGTERM (main thread)
and a cancelled token (any thread) become Interrupted, and so does an error raised once the token is
cancelled (it is a consequence of what cancelled the run, not a failure of its own); while cleanups
run, signals are held off and the token is held, so the unwinding completes.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from typing import Generic, Literal, Protocol, TypeVar

from goldsmith.engine.cancel import Cancelled, CancelToken
from goldsmith.engine.signals import Terminated, signals_held, signals_raise
from goldsmith.errors import BakeError, CleanupError, GoldsmithError, Interrupted

__all__ = ["FAULT_ENV", "RunState", "Sequence", "Step", "StepRecord", "cleanup_steps", "inject_fault",
           "run_steps"]

FAULT_ENV = "GOLDSMITH_FAULT"

StepStatus = Literal["running", "ok", "failed", "interrupted"]
Outcome = Literal["running", "succeeded", "failed", "interrupted"]


@dataclass
class StepRecord:
    name: str
    started_at: float
    duration: float = 0.0
    status: StepStatus = "running"


@dataclass
class RunState:
    """What the runner itself records on a run's state (a sequence's own state class extends it)."""

    steps: list[StepRecord] = field(default_factory=list, kw_only=True)
    outcome: Outcome = field(default="running", kw_only=True)
    error: str = field(default="", kw_only=True)
    # Set by a step that found the run's work already done (a bake's build cache hit): the steps after it
    # are not run, and the run succeeds.
    done: bool = field(default=False, kw_only=True)

    @property
    def run_id(self) -> str:
        """The run's id, for messages and for scoping test faults (a sequence's state says what it is)."""
        return ""


class StepEvents(Protocol):
    def step_started(self, name: str) -> None: ...
    def step_finished(self, name: str, status: str, duration: float, error: str = "") -> None: ...
    def warn(self, message: str) -> None: ...


class RunContext(Protocol):
    @property
    def events(self) -> StepEvents: ...
    @property
    def cancel(self) -> CancelToken: ...


S_contra = TypeVar("S_contra", contravariant=True)
C_contra = TypeVar("C_contra", contravariant=True)
S = TypeVar("S", bound=RunState)
C = TypeVar("C", bound=RunContext)


class Step(Protocol[S_contra, C_contra]):
    """One unit of a sequence. `cleanup` undoes only what `run` recorded creating in the state."""

    @property
    def name(self) -> str: ...

    def run(self, state: S_contra, ctx: C_contra) -> None: ...

    def cleanup(self, state: S_contra, ctx: C_contra) -> None: ...


@dataclass(frozen=True)
class Sequence(Generic[S, C]):
    """A named list of steps (as molecule names its sequences), built once per run from its settings:
    steps that the settings turn off are left out, so logs and manifests list only what ran."""

    name: str
    steps: tuple[Step[S, C], ...]

    @property
    def step_names(self) -> tuple[str, ...]:
        return tuple(step.name for step in self.steps)


def inject_fault(step_name: str, run_id: str = "") -> None:
    """Test hook for the reliability suite: GOLDSMITH_FAULT=[<run>/]<step>:<error|SIGINT|SIGTERM|SIGKILL>.

    The fault fires at the end of the named step's run, when it has created what it creates: the
    moment that is hardest to clean up after. Step names may contain ':' (e.g. `validation:launch-instance`).
    With `<run>/`, only in runs whose id starts with `<run>-` (a pipeline's bakes share one process and
    environment: `hardened/provision:error` fails hardened's bake only).
    """
    spec = os.environ.get(FAULT_ENV, "")
    scope, slash, spec = spec.rpartition("/")
    if slash and not run_id.startswith(f"{scope}-"):
        return
    name, sep, fault = spec.rpartition(":")
    if not sep or name != step_name:
        return
    if fault == "error":
        raise BakeError(f"injected fault in step {step_name}")
    if fault in ("SIGINT", "SIGTERM", "SIGKILL"):
        os.kill(os.getpid(), getattr(signal, fault))
        time.sleep(5)  # the signal arrives; SIGKILL never returns


def run_steps(steps: Seq[Step[S, C]], state: S, ctx: C) -> None:
    """Run every step; on any failure or interrupt, clean up the started ones in reverse and re-raise."""
    started: list[Step[S, C]] = []
    failure: BaseException | None = None
    try:
        with signals_raise():
            for step in steps:
                ctx.cancel.check()
                started.append(step)
                _run_one(step, state, ctx)
                if state.done:
                    break
        state.outcome = "succeeded"
    except (KeyboardInterrupt, Terminated, Cancelled) as exc:
        state.outcome = "interrupted"
        if isinstance(exc, Cancelled):
            failure = Interrupted(f"Cancelled ({exc.reason}); everything this build created has been cleaned up.")
        else:
            which = "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
            failure = Interrupted(f"Interrupted by {which}; everything this build created has been cleaned up.")
        _fail(state, ctx, failure, "interrupted")
    except Exception as exc:
        if ctx.cancel.cancelled:  # the call failed because of what cancelled us (e.g. the source AMI went)
            failure = Interrupted(f"Cancelled ({ctx.cancel.reason}); everything this build created has been "
                                  f"cleaned up.")
            failure.add_note(f"while cancelled, the running step failed: {exc}")
            state.outcome = "interrupted"
            _fail(state, ctx, failure, "interrupted")
        elif isinstance(exc, GoldsmithError):
            failure = exc
            _fail(state, ctx, failure, "failed")
        else:
            failure = BakeError(f"unexpected error: {type(exc).__name__}: {exc}")
            failure.__cause__ = exc
            _fail(state, ctx, failure, "failed")
    with signals_held(), ctx.cancel.held():
        leftovers = cleanup_steps(started, state, ctx)
    if failure is not None:
        if leftovers:
            failure.add_note(leftovers)
        raise failure
    if leftovers:
        raise CleanupError(leftovers)


def _run_one(step: Step[S, C], state: S, ctx: C) -> None:
    record = StepRecord(name=step.name, started_at=time.time())
    state.steps.append(record)
    ctx.events.step_started(step.name)
    t0 = time.monotonic()
    step.run(state, ctx)
    inject_fault(step.name, state.run_id)
    record.duration = time.monotonic() - t0
    record.status = "ok"
    ctx.events.step_finished(step.name, "ok", record.duration)


def _fail(state: RunState, ctx: RunContext, failure: BaseException,
          status: Literal["failed", "interrupted"]) -> None:
    """Record the outcome, and the step that was running as failed/interrupted (state and log)."""
    state.outcome = status
    state.error = str(failure)
    for record in state.steps:
        if record.status == "running":
            record.status = status
            record.duration = time.time() - record.started_at
            ctx.events.step_finished(record.name, status, record.duration, error=state.error)


def cleanup_steps(started: Seq[Step[S, C]], state: S, ctx: C) -> str:
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
