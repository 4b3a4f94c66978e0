"""Shared by the benchmarks: figures (table + JSON lines), the machine, a private sandbox, the payload.

Every benchmark prints a table for people, then one JSON line per figure:
``{"figure": ..., "unit": ..., "min": ..., "median": ..., "max": ..., "goal": ..., "met": bool}``
plus ``better`` ("lower": median < goal, "at most": <=, "higher": >=), ``n`` (samples) and ``note``.
A figure with no goal has
``goal: null, met: null``; a figure that cannot be measured yet has ``status`` and ``met: false``.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # measure this tree's goldsmith, not whatever an editable install points at
    sys.path.insert(0, str(ROOT))
DATA = ROOT / "bench" / ".data"  # generated inputs (gitignored); recipe paths must stay in the project
# Measure Goldsmith as a user's machine runs it: Python caches compiled modules in __pycache__ (pip compiled
# the dependencies' at install). Machines whose environment sets PYTHONDONTWRITEBYTECODE recompiled every
# Goldsmith module in every process the benchmarks start (~0.03 s of `invoke check`, ~0.08 s of a bake).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


@dataclass
class Figure:
    figure: str
    unit: str
    values: list[float] = field(default_factory=list)
    goal: float | None = None
    better: Literal["lower", "at most", "higher"] = "lower"  # median < goal, <= goal, >= goal
    note: str = ""
    status: str = ""  # e.g. "not built yet": nothing measured

    def met(self) -> bool | None:
        if self.status:
            return False
        if self.goal is None or not self.values:
            return None
        median = statistics.median(self.values)
        if self.better == "lower":
            return median < self.goal
        return median <= self.goal if self.better == "at most" else median >= self.goal

    def as_json(self) -> dict[str, Any]:
        stats: dict[str, float | None] = {"min": None, "median": None, "max": None}
        if self.values:
            stats = {"min": min(self.values), "median": statistics.median(self.values), "max": max(self.values)}
        line: dict[str, Any] = {"figure": self.figure, "unit": self.unit}
        line |= {k: (round(v, 4) if v is not None else None) for k, v in stats.items()}
        line |= {"goal": self.goal, "met": self.met(), "better": self.better, "n": len(self.values)}
        if self.note:
            line["note"] = self.note
        if self.status:
            line["status"] = self.status
        return line


def goal_text(line: dict[str, Any]) -> str:
    if line.get("goal") is None:
        return ""
    sign = {"lower": "<", "at most": "<="}.get(str(line.get("better")), ">=")
    return f"{sign} {line['goal']:g}"


def verdict(line: dict[str, Any]) -> str:
    if line.get("status"):
        return line["status"]
    return {True: "met", False: "MISSED", None: ""}[line.get("met")]


def table(lines: list[dict[str, Any]]) -> str:
    """A fixed-width table of JSON figure lines."""
    def num(value: Any) -> str:
        return "-" if value is None else f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"

    rows = [(line["figure"], line["unit"], num(line["min"]), num(line["median"]), num(line["max"]),
             goal_text(line), verdict(line)) for line in lines]
    head = ("figure", "unit", "min", "median", "max", "goal", "")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    out = []
    for row in [head, *rows]:
        out.append("  ".join(str(cell).ljust(w) if i < 2 else str(cell).rjust(w)
                             for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip())
    return "\n".join(out)


def report(title: str, figures: list[Figure], extra: str = "") -> None:
    """Print the table for people, then the JSON lines for machines."""
    lines = [f.as_json() for f in figures]
    print(f"== {title}")
    if extra:
        print(extra)
    print(table(lines))
    for line in lines:
        print(json.dumps(line), flush=True)


def machine() -> dict[str, str]:
    """nproc, CPU model, RAM and load: the figures only mean something next to these."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:"))
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "ram": f"{mem_kib / 2**20:.0f} GiB", "load": load,
            "python": platform.python_version()}


@contextlib.contextmanager
def private_sandbox() -> Iterator[Any]:
    """A sandbox of our own (fresh state dir): latency and counts changes disturb nobody else."""
    from goldsmith.sandbox import manage

    state_dir = Path(tempfile.mkdtemp(prefix="goldsmith-bench-sandbox-"))
    try:
        yield manage.up(state_dir)
    finally:
        manage.down(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)


def payload(name: str, size: int) -> Path:
    """A file of `size` random bytes under bench/.data (reused when it already has that size)."""
    path = DATA / name
    if path.exists() and path.stat().st_size == size:
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    block = os.urandom(1 << 20)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as handle:
        for _ in range(size // len(block)):
            handle.write(block)
        handle.write(block[: size % len(block)])
    tmp.replace(path)
    return path
