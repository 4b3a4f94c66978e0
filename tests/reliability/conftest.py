"""The reliability suite: kill matrix, faults from AWS and SSH, bad input, security.

The sandbox fixtures come from tests/conftest.py (one sandbox per session). The kill matrix records
each cell (step x fault -> leaked resources) in a collector; the terminal summary prints it and writes
it to .goldsmith/reliability-matrix.json.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from tests.sandbox.helpers import REPO

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


MATRIX_KEY = pytest.StashKey[Matrix]()


@pytest.fixture(scope="session")
def kill_matrix(request: pytest.FixtureRequest) -> Matrix:
    return request.config.stash.setdefault(MATRIX_KEY, Matrix())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    matrix = config.stash.get(MATRIX_KEY, None)
    if matrix is None or not matrix.cells:
        return
    terminalreporter.section("kill matrix: steps x faults -> leaked resources")
    terminalreporter.write_line(matrix.table())
    matrix.write(MATRIX_JSON)
    terminalreporter.write_line(f"written to {MATRIX_JSON}")
