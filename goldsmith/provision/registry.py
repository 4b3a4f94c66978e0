"""Provisioner lookup (name -> lazily imported class) and the loop that runs a recipe's steps."""

from __future__ import annotations

import dataclasses
import importlib
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from goldsmith.errors import ProvisionError, SshError
from goldsmith.provision.base import ProvisionContext, Provisioner, StepFailed

if TYPE_CHECKING:
    from goldsmith.recipe.model import ProvisionStep

REGISTRY: dict[str, str] = {
    "shell": "goldsmith.provision.shell:ShellProvisioner",
    "file": "goldsmith.provision.file:FileProvisioner",
    "template": "goldsmith.provision.template:TemplateProvisioner",
    "reboot": "goldsmith.provision.reboot:RebootProvisioner",
}
# Seconds a step may overrun its own timeout before the watchdog closes the session under it.
WATCHDOG_GRACE = 10.0


def provisioner_class(kind: str) -> type[Provisioner[Any]]:
    """Import the provisioner registered as ``kind``."""
    try:
        dotted = REGISTRY[kind]
    except KeyError:
        raise ProvisionError(f"unknown provisioner type {kind!r} (known: {', '.join(sorted(REGISTRY))})") from None
    module_name, _, class_name = dotted.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, Provisioner)):
        raise TypeError(f"{dotted} is not a Provisioner")
    return cls


def step_title(index: int, step: ProvisionStep) -> str:
    """``provision[2] shell 'install nginx'`` (the index counts from 0 like recipe errors do)."""
    name = f" {step.name!r}" if step.name else ""
    return f"provision[{index}] {step.type}{name}"


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
    provisioner = provisioner_class(step.type)(step)
    started = time.monotonic()
    watchdog = _Watchdog(step_ctx, step.timeout + WATCHDOG_GRACE)
    try:
        with watchdog:
            provisioner.run(step_ctx)
    except (StepFailed, SshError) as exc:
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
) -> None:
    """Run the steps in order, stopping at the first failure; ``ctx.session`` follows reboots."""
    for index, step in enumerate(steps):
        if on_step is not None:
            on_step(index, step_title(index, step))
        run_step(index, step, ctx)
