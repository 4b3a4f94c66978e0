"""The live progress line on a terminal (rich): the current step and its elapsed time, output scrolling above."""

from __future__ import annotations

import time

from rich.console import Console
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text


class RichDisplay:
    """A spinner line `step (12.3 s, total 45.6 s)` under the scrolling build output."""

    def __init__(self, console: Console | None = None) -> None:
        self._console = console or Console(stderr=True)
        self._t0 = time.monotonic()
        self._step = ""
        self._step_t0 = self._t0
        self._spinner = Spinner("dots", text=self._status_text())
        self._live = Live(self._spinner, console=self._console, refresh_per_second=8, transient=True)
        self._live.start()

    def _status_text(self) -> Text:
        now = time.monotonic()
        return Text(f" {self._step or 'starting'}  ({now - self._step_t0:.1f} s, total {now - self._t0:.1f} s)")

    def _refresh(self) -> None:
        self._spinner.update(text=self._status_text())

    def step_started(self, name: str) -> None:
        self._step, self._step_t0 = name, time.monotonic()
        self._refresh()

    def step_finished(self, name: str, status: str, duration: float) -> None:
        mark = "[green]✓[/]" if status == "ok" else "[red]✗[/]"
        self._console.print(f"{mark} {name} [dim]{duration:.2f} s[/]")
        self._refresh()

    def line(self, text: str) -> None:
        self._console.print(Text(f"  {text}", style="dim"))
        self._refresh()

    def close(self) -> None:
        self._live.stop()
