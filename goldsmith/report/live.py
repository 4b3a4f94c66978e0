"""Live progress on a terminal (rich): a bake's current step and its elapsed time, or a pipeline's table of
recipes, with output scrolling above. Imported only when stderr is a terminal."""

from __future__ import annotations

import time

from rich.console import Console
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from goldsmith.report.pipeline_view import STYLE, Row, ViewBase


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


class RichPipelineView(ViewBase):
    """A live table of the recipes under the step results, which scroll above it."""

    def __init__(self, names: list[str], console: Console | None = None) -> None:
        super().__init__(names)
        self._console = console or Console(stderr=True)
        self._live = Live(get_renderable=self._table, console=self._console, refresh_per_second=4, transient=False)
        self._live.start()

    def _table(self) -> Table:
        now = time.monotonic()
        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        for column in ("recipe", "status", "step", "time", ""):
            table.add_column(column)
        for name, row in self.rows.items():
            seconds = row.elapsed(now)
            table.add_row(name, Text(row.status, style=STYLE.get(row.status, "")), row.step,
                          f"{seconds:.1f} s" if seconds else "", Text(row.note, style="dim"))
        return table

    def status_changed(self, name: str, row: Row) -> None:
        self._live.refresh()

    def step_finished(self, recipe: str, step: str, status: str, duration: float) -> None:
        mark = "[green]✓[/]" if status == "ok" else "[red]✗[/]"
        self._console.print(f"{mark} [bold]{recipe}[/] {step} [dim]{duration:.2f} s[/]")

    def bake_line(self, recipe: str, text: str) -> None:
        if text.startswith("WARNING"):
            self._console.print(Text(f"  {recipe}: {text}", style="yellow"))

    def line(self, text: str) -> None:
        self._console.print(text)

    def close(self) -> None:
        self._live.stop()
