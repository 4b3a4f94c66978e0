"""Kill matrix of `invoke validate`: every step of its sequence x (error, SIGINT, SIGTERM, SIGKILL).

`invoke validate AMI` is a sequence run by the same runner as the bake, so it must unwind the same way:
exit 1 on an error, 130 on Ctrl-C/SIGTERM, nothing left in the account; after a SIGKILL,
`invoke clean --build-id ID --yes` (its journal and tags) leaves nothing. Cells go into the same table
as the bake's matrix, as `validate/<step>`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from goldsmith.bake import sequences
from goldsmith.engine.runner import FAULT_ENV
from goldsmith.recipe.model import Build
from tests.reliability.conftest import Cell, Matrix
from tests.reliability.helpers import FAST, bake, clean, inventory, tagged_leftovers
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


@pytest.mark.parametrize("fault", tuple(EXIT))
@pytest.mark.parametrize("step", STEPS)
def test_fault_in_invoke_validate_leaves_nothing(step: str, fault: str, image_id: str, sandbox: Any,
                                                 sandbox_dir: Path, tmp_path: Path, kill_matrix: Matrix) -> None:
    url = sandbox.gateway_url
    before = inventory(url)
    env = {"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir), FAULT_ENV: f"{step}:{fault}"}
    t0 = time.monotonic()
    run = run_invoke(["validate", image_id, "--suite", str(SUITE)], work_dir=tmp_path, env=env, timeout=300)
    output = run.stdout + run.stderr
    (build_id,) = build_ids(tmp_path)
    assert build_id.startswith("validate-")
    left_before_clean = 0
    if fault == "SIGKILL":
        left_before_clean = len(tagged_leftovers(url, build_id))
        cleaned = clean(build_id, tmp_path, sandbox_dir)
        assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    tagged = [f"{kind}/{rid}" for kind, ids in tagged_leftovers(url, build_id).items() for rid in ids]
    leaks = sorted(set(tagged) | (inventory(url) - before))
    ok = run.returncode == EXIT[fault] and not leaks
    kill_matrix.add(Cell(f"validate/{step}", fault, run.returncode, len(leaks), round(time.monotonic() - t0, 2), ok,
                         left_before_clean))
    assert run.returncode == EXIT[fault], output[-3000:]
    assert leaks == [], f"{step}:{fault} left {leaks}\n{output[-3000:]}"
    if fault != "SIGKILL":
        assert f"injected fault in step {step}" in output or "Interrupted by" in output, output[-2000:]
