"""The reliability suite: kill matrix, faults from AWS and SSH, bad input, security.

The sandbox fixtures come from tests/conftest.py (one sandbox per session). The kill matrix's cells
(step x fault -> leaked resources) are gathered and printed by tests/reliability/matrix.py.
"""

from __future__ import annotations

import pytest

from tests.reliability.matrix import CellRecorder


@pytest.fixture
def kill_matrix(request: pytest.FixtureRequest) -> CellRecorder:
    """Where a kill-matrix test adds its cells (see tests/reliability/matrix.py)."""
    return CellRecorder(request.node)
