"""What every provisioner shares: its context, base class, failure type, and the loop running the steps."""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Generic, Protocol, TypeVar

from goldsmith.errors import InputError, ProvisionError, SshError
from goldsmith.recipe.formats import FieldProblem, absolute_path
from goldsmith.ssh.session import SshSession

if TYPE_CHECKING:
    from goldsmith.recipe.model import FileStep, ProvisionStep, RebootStep, ShellStep, StepType, TemplateStep
    from goldsmith.recipe.model import Recipe as RecipeModel

# Seconds a step may overrun its own timeout before the watchdog closes the session under it.
WATCHDOG_GRACE = 10.0


class Recipe(Protocol):
    """The part of goldsmith.recipe's LoadedRecipe that provisioners use."""

    @property
    def recipe(self) -> RecipeModel: ...

    @property
    def root(self) -> Path: ...

    @property
    def variables(self) -> Mapping[str, str]: ...

    @property
    def secrets(self) -> frozenset[str]: ...

    def resolve(self, relative: str) -> Path: ...

    def render(self, template: str, **facts: str) -> str: ...


@dataclass
class ProvisionContext:
    """The live session and the recipe a step runs with; a reboot replaces ``session``."""

    session: SshSession
    reconnect: Callable[[], SshSession]
    loaded: Recipe
    facts: dict[str, str]
    log: Callable[[str], None]

    def render(self, template: str) -> str:
        """Render a recipe string (env value, inline line, destination) with variables and facts."""
        return self.loaded.render(template, **self.facts)

    def destination(self, template: str) -> str:
        """A rendered destination path, checked like a literal one is when the recipe loads: absolute
        and not / itself (a relative or option-like path must never reach the instance's shell)."""
        rendered = self.render(template)
        try:
            return absolute_path(rendered, "destination")
        except FieldProblem as exc:
            raise StepFailed(f"failed: destination {template!r} rendered to {rendered!r}: {exc}") from exc

    @property
    def secrets(self) -> frozenset[str]:
        return self.loaded.secrets


class StepFailed(Exception):
    """Raised by a provisioner; run_provisioners turns it into a ProvisionError naming the step."""

    def __init__(self, reason: str, output_tail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.output_tail = output_tail


StepT = TypeVar("StepT", bound="ShellStep | FileStep | TemplateStep | RebootStep")


class Provisioner(ABC, Generic[StepT]):
    """One provision step of a recipe, bound to its model; subclasses implement :meth:`run`."""

    kind: ClassVar[StepType]
    """The step ``type`` it runs, which is also its key in the registry (provisioner_class checks both agree)."""

    def __init__(self, step: StepT) -> None:
        self.step = step

    @abstractmethod
    def run(self, ctx: ProvisionContext) -> None:
        """Do the step's work on ``ctx.session``; raise StepFailed with a reason on failure."""


def parse_mode(mode: str | None) -> int | None:
    """``"0644"`` -> 0o644 (the schema already checked the format)."""
    return None if mode is None else int(mode, 8)


def step_label(step: ProvisionStep) -> str:
    """``shell 'install nginx'`` (what ``on_step`` receives)."""
    return f"{step.type} {step.name!r}" if step.name else step.type


def step_title(index: int, step: ProvisionStep) -> str:
    """``provision[2] shell 'install nginx'`` (the index counts from 0 like recipe errors do)."""
    return f"provision[{index}] {step_label(step)}"


class _Watchdog:
    """Closes the session if a step overruns its timeout, so a hung upload or wait cannot block forever."""

    def __init__(self, ctx: ProvisionContext, seconds: float) -> None:
        self.fired = False
        self._ctx = ctx
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        self.fired = True
        self._ctx.session.close()

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def run_step(index: int, step: ProvisionStep, ctx: ProvisionContext) -> None:
    """Run one step with output prefixed ``[index type] ``; failures become a ProvisionError."""
    prefix = f"[{index} {step.type}] "
    step_ctx = dataclasses.replace(ctx, log=lambda line: ctx.log(prefix + line))
    from goldsmith.provision.registry import provisioner_class

    provisioner = provisioner_class(step.type)(step)
    started = time.monotonic()
    watchdog = _Watchdog(step_ctx, step.timeout + WATCHDOG_GRACE)
    try:
        with watchdog:
            provisioner.run(step_ctx)
    except (StepFailed, SshError, InputError) as exc:
        elapsed = time.monotonic() - started
        reason = exc.reason if isinstance(exc, StepFailed) else f"failed: {exc}"
        if watchdog.fired:
            reason = f"did not finish within its timeout of {step.timeout} s ({reason})"
        tail = exc.output_tail if isinstance(exc, StepFailed) else ""
        last = f"; last output:\n{tail}" if tail.strip() else ""
        raise ProvisionError(f"{step_title(index, step)} {reason} after {elapsed:.1f} s{last}") from exc
    finally:
        ctx.session = step_ctx.session


def run_provisioners(
    steps: Sequence[ProvisionStep],
    ctx: ProvisionContext,
    *,
    on_step: Callable[[int, str], None] | None = None,
    limit: float | None = None,
) -> None:
    """Run the steps in order, stopping at the first failure; ``ctx.session`` follows reboots.

    All the steps together may take ``limit`` seconds (default: the recipe's build.timeouts.provision):
    each step's own timeout is cut to the time left, and a step that reaches the limit, or one that
    would start after it, fails with a ProvisionError naming the step and the limit.
    """
    if limit is None:
        limit = float(ctx.loaded.recipe.build.timeouts.provision)
    started = time.monotonic()
    deadline = started + limit
    for index, step in enumerate(steps):
        left = deadline - time.monotonic()
        if left <= 0:
            raise ProvisionError(
                f"{step_title(index, step)} was not started: the provision steps reached their limit of "
                f"{limit:g} s (build.timeouts.provision) after {time.monotonic() - started:.1f} s"
            )
        if on_step is not None:
            on_step(index, step_label(step))
        bounded = step if step.timeout <= left else step.model_copy(update={"timeout": math.ceil(left)})
        try:
            run_step(index, bounded, ctx)
        except ProvisionError as exc:
            if bounded is step or time.monotonic() < deadline:
                raise
            title = step_title(index, step)
            raise ProvisionError(
                f"{title} was stopped at the limit of {limit:g} s for all provision steps together "
                f"(build.timeouts.provision; {left:.0f} s of it were left when the step started): "
                f"{str(exc).removeprefix(title + ' ')}"
            ) from exc
