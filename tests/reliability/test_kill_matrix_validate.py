"""Kill matrix of `invoke validate`: every step of its sequence x (error, SIGINT, SIGTERM, SIGKILL).

`invoke validate AMI` is a sequence run by the same runner as the bake, so it must unwind the same way:
exit 1 on an error, 130 on Ctrl-C/SIGTERM, nothing left in the account; after a SIGKILL,
`invoke clean --build-id ID --yes` (its journal and tags) leaves nothing. Cells go into the same table
as the bake's matrix, as `validate/<step>`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from goldsmith.bake import sequences
from goldsmith.engine.runner import FAULT_ENV
from goldsmith.recipe.model import Build
from tests.reliability.helpers import FAST, bake, run_cells, tagged_leftovers
from tests.reliability.matrix import Cell, CellRecorder
from tests.sandbox.helpers import REPO, build_ids, run_invoke

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

EXIT = {"error": 1, "SIGINT": 130, "SIGTERM": 130, "SIGKILL": -9}
SUITE = REPO / "tests" / "reliability" / "suites" / "smoke_suite.py"
STEPS = sequences.validate_image("ami-00000000000000000", None, Build(), "t3.micro",
                                 plan=lambda state: None).step_names  # type: ignore[arg-type, return-value]


@pytest.fixture(scope="module")
def image_id(sandbox: Any, sandbox_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The reliability recipe baked once; its suite passes on it."""
    run = bake(FAST, tmp_path_factory.mktemp("fast"), sandbox_dir)
    assert run.returncode == 0, run.output[-3000:]
    ids = [i for i in tagged_leftovers(sandbox.gateway_url, run.build_id).get("us-east-1/images", [])]
    assert len(ids) == 1, ids
    return ids[0]


def test_the_sequence_is_what_the_matrix_covers() -> None:
    assert STEPS[0] == "find-image" and "validate-image" in STEPS and len(STEPS) == len(set(STEPS)) == 7


@pytest.mark.parametrize("step", STEPS)
def test_fault_in_invoke_validate_leaves_nothing(step: str, image_id: str, sandbox: Any, sandbox_dir: Path,
                                                 tmp_path: Path, kill_matrix: CellRecorder) -> None:
    """The step's four cells run at the same time (see helpers.run_cells)."""

    def run(fault: str, work: Path) -> tuple[int, str, str]:
        env = {"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir), FAULT_ENV: f"{step}:{fault}"}
        done = run_invoke(["validate", image_id, "--suite", str(SUITE)], work_dir=work, env=env, timeout=300)
        ids = build_ids(work)
        return done.returncode, done.stdout + done.stderr, ids[-1] if ids else ""

    outcomes = run_cells(EXIT, run, tmp_path, sandbox_dir, sandbox.gateway_url)
    for o in outcomes:
        ok = o.returncode == EXIT[o.fault] and not o.leaks and not o.clean_error
        kill_matrix.add(Cell(f"validate/{step}", o.fault, o.returncode, len(o.leaks), o.seconds, ok,
                             o.left_before_clean))
    for o in outcomes:
        assert o.build_id.startswith("validate-"), o.output[-3000:]
        assert o.returncode == EXIT[o.fault], f"{step}:{o.fault}\n{o.output[-3000:]}"
        assert not o.clean_error, f"{step}:{o.fault}: invoke clean failed\n{o.clean_error}"
        assert o.leaks == [], f"{step}:{o.fault} left {o.leaks}\n{o.output[-3000:]}"
        if o.fault != "SIGKILL":
            assert f"injected fault in step {step}" in o.output or "Interrupted by" in o.output, o.output[-2000:]
