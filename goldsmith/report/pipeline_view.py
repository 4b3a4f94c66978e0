"""Progress of a pipeline: every running bake's current step and elapsed time in one view.

On a terminal, a live table (recipe, status, step, time) under the scrolling step results; elsewhere
(CI logs, pipes), plain lines prefixed with the recipe. Each bake reports through `display_for(name)`,
an ordinary Display, from its own thread.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Protocol, TextIO

from goldsmith.report.events import Display

STYLE = {"pending": "dim", "running": "cyan", "baked": "green", "reused": "green", "failed": "red",
         "cancelled": "yellow", "skipped": "yellow"}


@dataclass
class Row:
    status: str = "pending"
    step: str = ""
    started: float = 0.0
    finished: float = 0.0
    note: str = ""

    def elapsed(self, now: float) -> float:
        if not self.started:
            return 0.0
        return (self.finished or now) - self.started


class PipelineView(Protocol):
    def display_for(self, name: str) -> Display: ...
    def status(self, name: str, status: str, note: str = "") -> None: ...
    def line(self, text: str) -> None: ...
    def close(self) -> None: ...


class _BakeDisplay:
    """One bake's Display, forwarding to the view with its recipe's name."""

    def __init__(self, view: ViewBase, name: str) -> None:
        self._view = view
        self._name = name

    def step_started(self, name: str) -> None:
        self._view.step_started(self._name, name)

    def step_finished(self, name: str, status: str, duration: float) -> None:
        self._view.step_finished(self._name, name, status, duration)

    def line(self, text: str) -> None:
        self._view.bake_line(self._name, text)

    def close(self) -> None:
        return None  # the view outlives each bake


class ViewBase:
    def __init__(self, names: list[str]) -> None:
        self.rows = {name: Row() for name in names}
        self.t0 = time.monotonic()
        self._lock = threading.Lock()

    def display_for(self, name: str) -> Display:
        return _BakeDisplay(self, name)

    def status(self, name: str, status: str, note: str = "") -> None:
        with self._lock:
            row = self.rows[name]
            now = time.monotonic()
            if status == "running" and not row.started:
                row.started = now
            elif status not in ("pending", "running"):
                row.finished = now if row.started else 0.0
                row.step = ""
            row.status, row.note = status, note
        self.status_changed(name, row)

    def step_started(self, recipe: str, step: str) -> None:
        self.rows[recipe].step = step

    def status_changed(self, name: str, row: Row) -> None:
        raise NotImplementedError

    def step_finished(self, recipe: str, step: str, status: str, duration: float) -> None:
        raise NotImplementedError

    def bake_line(self, recipe: str, text: str) -> None:
        raise NotImplementedError


class PlainPipelineView(ViewBase):
    """`[  12.34s] hardened: ==> launch-instance`, one line per event, for logs."""

    def __init__(self, names: list[str], stream: TextIO | None = None) -> None:
        super().__init__(names)
        self._stream = stream or sys.stderr
        self._width = max((len(n) for n in names), default=0)

    def _print(self, text: str) -> None:
        with self._lock:
            print(f"[{time.monotonic() - self.t0:7.2f}s] {text}", file=self._stream, flush=True)

    def status_changed(self, name: str, row: Row) -> None:
        note = f" ({row.note})" if row.note else ""
        self._print(f"{name.ljust(self._width)}: {row.status.upper()}{note}")

    def step_started(self, recipe: str, step: str) -> None:
        super().step_started(recipe, step)
        self._print(f"{recipe.ljust(self._width)}: ==> {step}")

    def step_finished(self, recipe: str, step: str, status: str, duration: float) -> None:
        if status != "ok":
            self._print(f"{recipe.ljust(self._width)}: <== {step}: {status} after {duration:.2f} s")

    def bake_line(self, recipe: str, text: str) -> None:
        self._print(f"{recipe.ljust(self._width)}:     {text}")

    def line(self, text: str) -> None:
        self._print(text)

    def close(self) -> None:
        return None


def make_pipeline_view(names: list[str], plain: bool | None = None) -> PipelineView:
    """Rich on a terminal, plain prefixed lines in CI and pipes."""
    if plain is None:
        plain = not sys.stderr.isatty()
    if plain:
        return PlainPipelineView(names)  # rich is imported only for a terminal
    from goldsmith.report.live import RichPipelineView

    return RichPipelineView(names)
