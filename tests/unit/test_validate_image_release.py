"""The validation instance is released early (release-instance); a failed early release only warns, and
the cleanups of the steps that created its resources try again when the run ends."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from goldsmith.bake import machines
from goldsmith.bake.context import BakeOptions
from goldsmith.bake.machines import InstanceSpec
from goldsmith.bake.state import BuildState
from goldsmith.bake.steps.create_security_group import CreateSecurityGroup
from goldsmith.bake.steps.release_instance import ReleaseInstance
from goldsmith.engine.cancel import CancelToken
from goldsmith.engine.journal import Journal
from goldsmith.engine.runner import run_steps
from goldsmith.errors import AwsError, CleanupError
from goldsmith.recipe.model import Build

SPEC = InstanceSpec("validation", Build(), "t3.micro")


class FlakyGroups:
    """Deleting the group fails `failures` times (an interface still detaching), then works."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts = 0

    def __call__(self, ec2: Any, group_id: str, **_: Any) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise AwsError(f"DeleteSecurityGroup {group_id} failed: DependencyViolation: sg-1 still in use",
                           code="DependencyViolation")


def _setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failures: int) -> tuple[BuildState, Any, FlakyGroups,
                                                                                    list[str]]:
    flaky = FlakyGroups(failures)
    monkeypatch.setattr(machines.ec2ops, "delete_security_group", flaky)
    warnings: list[str] = []
    events = SimpleNamespace(warn=warnings.append, info=lambda *a, **k: None, step_started=lambda name: None,
                             step_finished=lambda *a, **k: None)
    ctx = SimpleNamespace(aws=SimpleNamespace(ec2=lambda region: None), events=events, cancel=CancelToken(),
                          journal=Journal(path=tmp_path / "j.json", build_id="b-1"), waits=None,
                          options=BakeOptions(work_dir=tmp_path))
    state = BuildState(build_id="b-1", region="us-east-1", facts={}, tags={})
    state.instances["validation"].security_group_id = "sg-1"
    return state, ctx, flaky, warnings


def test_a_failed_early_release_warns_and_cleanup_removes_the_instance_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, ctx, flaky, warnings = _setup(tmp_path, monkeypatch, failures=1)

    ReleaseInstance(SPEC).run(state, ctx)  # must not raise: the image passed, a slow detach is not its fault

    assert flaky.attempts == 1
    assert len(warnings) == 1 and "sg-1 still in use" in warnings[0] and "try again" in warnings[0]
    state.outcome = "succeeded"
    CreateSecurityGroup(SPEC).cleanup(state, ctx)
    assert flaky.attempts == 2
    assert state.instances["validation"].security_group_id is None


def test_cleanup_reports_what_it_still_could_not_remove(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state, ctx, flaky, _ = _setup(tmp_path, monkeypatch, failures=2)

    class AlreadyCreated(CreateSecurityGroup):
        def run(self, state: BuildState, ctx: Any) -> None:
            return None  # the group is in the state already

    with pytest.raises(CleanupError, match="delete them manually"):
        run_steps([AlreadyCreated(SPEC), ReleaseInstance(SPEC)], state, ctx)
    assert flaky.attempts == 2
