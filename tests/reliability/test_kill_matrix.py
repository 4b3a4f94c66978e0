"""Kill matrix: every step x (error, SIGINT, SIGTERM, SIGKILL), each a real `invoke bake` in a subprocess.

The fault fires at the end of the named step's run (GOLDSMITH_FAULT, see goldsmith.engine.runner), when the
step has created what it creates. Afterwards nothing may be left in any region the recipe touches:
nothing tagged with the build id, and no new untagged resource either. A SIGKILLed bake cannot clean
up, so there `invoke clean --build-id ID --yes` (journal + tags) must leave nothing.

The recipe (tests/reliability/recipes/fast.yaml) makes every step do real work: validation on the
build instance and on an instance from the AMI, a copy to us-west-2, sharing, deprecation.

A step's four cells run at the same time (four `invoke bake` processes, each with its own build id and
work dir; see helpers.run_cells): the work is mostly waiting on the sandbox, so the matrix takes about a
quarter of the time of running cells one by one. Cost: 84 cells here and 28 in test_kill_matrix_validate.py.
It is marked `slow`: `invoke test` (and CI) runs it, `invoke test --quick` leaves it out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from goldsmith.bake.sequences import Features, step_names
from goldsmith.engine.runner import FAULT_ENV
from goldsmith.recipe.loader import load_recipe
from tests.reliability.helpers import FAST, FAST_REGIONS, bake, run_cells
from tests.reliability.matrix import Cell, CellRecorder

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

STEP_NAMES = step_names(load_recipe(FAST), FAST_REGIONS[0])

EXIT = {"error": 1, "SIGINT": 130, "SIGTERM": 130, "SIGKILL": -9}
FAULTS = tuple(EXIT)


def test_every_step_of_the_plan_is_in_the_matrix() -> None:
    """The matrix follows the plan: a step added to the bake is killed here too. The recipe turns every
    optional part of the bake on, so no step is left out of its sequence."""
    features = Features.of(load_recipe(FAST), FAST_REGIONS[0], ())
    assert features == Features(copy_regions=FAST_REGIONS[1:])
    assert len(STEP_NAMES) == len(set(STEP_NAMES)) >= 16
    assert {"validate-build", "validate-image", "copy-regions", "share-image", "deprecate-image"} <= set(STEP_NAMES)


@pytest.mark.parametrize("step", STEP_NAMES)
def test_fault_at_step_leaves_nothing(step: str, sandbox: Any, sandbox_dir: Path, tmp_path: Path,
                                      kill_matrix: CellRecorder) -> None:
    """The step's four cells run at the same time, each a bake of its own (see run_cells)."""

    def run(fault: str, work: Path) -> tuple[int, str, str]:
        baked = bake(FAST, work, sandbox_dir, env={FAULT_ENV: f"{step}:{fault}"})
        return baked.returncode, baked.output, baked.build_id

    outcomes = run_cells(FAULTS, run, tmp_path, sandbox_dir, sandbox.gateway_url)
    for o in outcomes:
        ok = o.returncode == EXIT[o.fault] and not o.leaks and not o.clean_error
        kill_matrix.add(Cell(step, o.fault, o.returncode, len(o.leaks), o.seconds, ok, o.left_before_clean))
    for o in outcomes:
        assert o.build_id, o.output
        assert o.returncode == EXIT[o.fault], f"{step}:{o.fault}\n{o.output[-3000:]}"
        assert not o.clean_error, f"{step}:{o.fault}: invoke clean failed\n{o.clean_error}"
        assert o.leaks == [], f"{step}:{o.fault} left {o.leaks}\n{o.output[-3000:]}"
        if o.fault != "SIGKILL":
            assert f"injected fault in step {step}" in o.output or "Interrupted by" in o.output, o.output[-2000:]
