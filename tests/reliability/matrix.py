"""The kill matrix's results (step x fault -> leaked resources): the cells a test records travel in its
report (user_properties), and the collector (registered by tests/conftest.py, so it also lives in the process
that prints the summary under pytest-xdist) gathers them, prints the table and writes
.goldsmith/reliability-matrix.json."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MATRIX_JSON = REPO / ".goldsmith" / "reliability-matrix.json"


@dataclass
class Cell:
    step: str
    fault: str
    exit_code: int
    leaked: int  # resources tagged with the build id (or new and untagged) left afterwards
    seconds: float
    ok: bool
    left_before_clean: int = 0  # SIGKILL only: what the killed bake left for `invoke clean`


class Matrix:
    """The kill matrix's results, in the order they were run."""

    def __init__(self) -> None:
        self.cells: list[Cell] = []

    def add(self, cell: Cell) -> None:
        self.cells.append(cell)

    def table(self) -> str:
        steps = list(dict.fromkeys(c.step for c in self.cells))
        faults = list(dict.fromkeys(c.fault for c in self.cells))
        by = {(c.step, c.fault): c for c in self.cells}
        width = max(len(s) for s in steps) + 2
        lines = ["step".ljust(width) + "".join(f.rjust(10) for f in faults)]
        for step in steps:
            row = step.ljust(width)
            for fault in faults:
                cell = by.get((step, fault))
                text = "-" if cell is None else (str(cell.leaked) if cell.ok else f"{cell.leaked}!x{cell.exit_code}")
                row += text.rjust(10)
            lines.append(row)
        total = sum(c.seconds for c in self.cells)
        bad = [c for c in self.cells if not c.ok]
        lines.append(f"{len(self.cells)} cells, {sum(c.leaked for c in self.cells)} leaked resources, "
                     f"{len(bad)} failed cells, {total:.0f} s of bakes "
                     "(number = resources left; SIGKILL = left after `invoke clean`; !xN = wrong exit code N)")
        return "\n".join(lines)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"cells": [asdict(c) for c in self.cells]}, indent=2) + "\n")


CELL_PROPERTY = "kill_matrix_cell"


class CellRecorder:
    """What a kill-matrix test adds its cells to: they travel in the test's report (user_properties), so the
    process that prints the summary gets them, also from pytest-xdist's workers."""

    def __init__(self, node: pytest.Item) -> None:
        self._node = node

    def add(self, cell: Cell) -> None:
        self._node.user_properties.append((CELL_PROPERTY, asdict(cell)))


class MatrixCollector:
    """A pytest plugin: gathers the cells from the reports, prints and writes the matrix at the end."""

    def __init__(self) -> None:
        self.matrix = Matrix()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            for name, value in report.user_properties:
                if name == CELL_PROPERTY:
                    self.matrix.add(Cell(**value))  # type: ignore[arg-type]

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.matrix.cells:
            return
        terminalreporter.section("kill matrix: steps x faults -> leaked resources")
        terminalreporter.write_line(self.matrix.table())
        self.matrix.write(MATRIX_JSON)
        terminalreporter.write_line(f"written to {MATRIX_JSON}")
