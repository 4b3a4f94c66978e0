"""A timeline drawn to scale: one bar per step (or per bake of a pipeline), placed by its start and length.

Pure arithmetic for the HTML report's SVG: positions are in the SVG's own units (a fixed width, scaled to
the page by its viewBox), so the template only places what this module computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 1000.0  # the SVG's viewBox width
LABEL = 250.0  # room for the step names on the left
RIGHT = 70.0  # room for the duration on the right of the longest bar
ROW = 22.0  # height of one row
BAR = 14.0  # height of a bar
AXIS = 30.0  # height of the time axis below the bars
MIN_BAR = 1.5  # a step of a few milliseconds is still visible

COLOURS = {"ok": "#2e7d32", "baked": "#2e7d32", "reused": "#1565c0", "failed": "#c62828", "interrupted": "#ef6c00",
           "cancelled": "#ef6c00", "running": "#757575", "skipped": "#9e9e9e"}


@dataclass(frozen=True)
class Span:
    """What one bar stands for: a name, when it started (epoch seconds), how long, how it ended."""

    name: str
    started_at: float
    duration: float
    status: str
    link: str = ""  # a pipeline's bar links to that bake's report


@dataclass(frozen=True)
class Bar:
    name: str
    status: str
    colour: str
    offset: float  # seconds after the first start
    duration: float
    x: float
    y: float
    width: float
    link: str = ""

    @property
    def text_y(self) -> float:
        return self.y + BAR - 3


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Timeline:
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    total: float  # seconds from the first start to the last end
    height: float
    width: float = WIDTH
    label_width: float = LABEL
    bar_height: float = BAR

    @property
    def axis_y(self) -> float:
        return self.height - 8


def timeline(spans: Sequence[Span]) -> Timeline:
    """Bars for the spans, in their order, on one time scale from the earliest start to the latest end."""
    if not spans:
        return Timeline(bars=(), ticks=(), total=0.0, height=AXIS)
    t0 = min(s.started_at for s in spans)
    total = max(max(s.started_at + max(s.duration, 0.0) for s in spans) - t0, 1e-3)
    scale = (WIDTH - LABEL - RIGHT) / total
    bars = []
    for row, span in enumerate(spans):
        offset = max(span.started_at - t0, 0.0)
        bars.append(Bar(name=span.name, status=span.status, colour=COLOURS.get(span.status, "#757575"),
                        offset=offset, duration=max(span.duration, 0.0), x=LABEL + offset * scale,
                        y=row * ROW + (ROW - BAR) / 2, width=max(max(span.duration, 0.0) * scale, MIN_BAR),
                        link=span.link))
    height = len(spans) * ROW + AXIS
    return Timeline(bars=tuple(bars), ticks=_ticks(total, scale), total=total, height=height)


def _ticks(total: float, scale: float) -> tuple[Tick, ...]:
    """Round-numbered ticks: a step of 1, 2 or 5 times a power of ten, about five of them."""
    raw = total / 5
    magnitude = 10.0 ** _floor_log10(raw)
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    ticks = []
    at = 0.0
    while at <= total + 1e-9:
        ticks.append(Tick(x=LABEL + at * scale, label=f"{round(at, 6):g} s" if at < 60 else seconds(at)))
        at += step
    return tuple(ticks)


def _floor_log10(value: float) -> int:
    exponent = 0
    while value >= 10:
        value /= 10
        exponent += 1
    while value < 1:
        value *= 10
        exponent -= 1
    return exponent


def seconds(value: float) -> str:
    """A duration for people: 0.042 s, 1.3 s, 2 min 05 s."""
    if value < 1:
        return f"{value:.3f} s".replace("0.000 s", "0 s")
    if value < 60:
        return f"{value:.1f} s"
    minutes, rest = divmod(round(value), 60)
    return f"{minutes} min {rest:02d} s"
