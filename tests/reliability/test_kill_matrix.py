"""Kill matrix: every step x (error, SIGINT, SIGTERM, SIGKILL), each a real `invoke bake` in a subprocess.

The fault fires at the end of the named step's run (GOLDSMITH_FAULT, see goldsmith.engine.runner), when the
step has created what it creates. Afterwards nothing may be left in any region the recipe touches:
nothing tagged with the build id, and no new untagged resource either. A SIGKILLed bake cannot clean
up, so there `invoke clean --build-id ID --yes` (journal + tags) must leave nothing.

The recipe (tests/reliability/recipes/fast.yaml) makes every step do real work: validation on the
build instance and on an instance from the AMI, a copy to us-west-2, sharing, deprecation.

Cost: 85 cells here and 28 in test_kill_matrix_validate.py: 834 s of bakes in the CI run of 2026-12-03 on a
2-core Xeon (a full bake of the recipe is ~5 s; each cell also lists the account twice, which grows slower
as moto accumulates terminated instances). It is marked `slow`: `invoke test` (and CI) runs it,
`invoke test --quick` leaves it out.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from goldsmith.bake.sequences import Features, step_names
from goldsmith.engine.runner import FAULT_ENV
from goldsmith.recipe.loader import load_recipe
from tests.reliability.conftest import Cell, Matrix
from tests.reliability.helpers import FAST, FAST_REGIONS, bake, clean, inventory, tagged_leftovers

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

STEP_NAMES = step_names(load_recipe(FAST), FAST_REGIONS[0])

EXIT = {"error": 1, "SIGINT": 130, "SIGTERM": 130, "SIGKILL": -9}
FAULTS = tuple(EXIT)


def _leaks(gateway_url: str, build_id: str, before: set[str]) -> list[str]:
    tagged = [f"{kind}/{rid}" for kind, ids in tagged_leftovers(gateway_url, build_id).items() for rid in ids]
    return sorted(set(tagged) | (inventory(gateway_url) - before))


def test_every_step_of_the_plan_is_in_the_matrix() -> None:
    """The matrix follows the plan: a step added to the bake is killed here too. The recipe turns every
    optional part of the bake on, so no step is left out of its sequence."""
    features = Features.of(load_recipe(FAST), FAST_REGIONS[0], ())
    assert features == Features(copy_regions=FAST_REGIONS[1:])
    assert len(STEP_NAMES) == len(set(STEP_NAMES)) >= 16
    assert {"validate-build", "validate-image", "copy-regions", "share-image", "deprecate-image"} <= set(STEP_NAMES)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("step", STEP_NAMES)
def test_fault_at_step_leaves_nothing(step: str, fault: str, sandbox: Any, sandbox_dir: Path, tmp_path: Path,
                                      kill_matrix: Matrix) -> None:
    url = sandbox.gateway_url
    before = inventory(url)
    t0 = time.monotonic()
    run = bake(FAST, tmp_path, sandbox_dir, env={FAULT_ENV: f"{step}:{fault}"})
    assert run.build_id, run.output
    left_before_clean = 0
    if fault == "SIGKILL":
        left_before_clean = len(_leaks(url, run.build_id, before))
        cleaned = clean(run.build_id, tmp_path, sandbox_dir)
        assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    leaks = _leaks(url, run.build_id, before)
    ok = run.returncode == EXIT[fault] and not leaks
    kill_matrix.add(Cell(step, fault, run.returncode, len(leaks), round(time.monotonic() - t0, 2), ok,
                         left_before_clean))
    assert run.returncode == EXIT[fault], run.output[-3000:]
    assert leaks == [], f"{step}:{fault} left {leaks}\n{run.output[-3000:]}"
    if fault != "SIGKILL":
        assert f"injected fault in step {step}" in run.output or "Interrupted by" in run.output, run.output[-2000:]
