"""The validation instance is released early (release-instance): terminated without waiting and its key pair
deleted, its security group left to the cleanup at the end (it cannot go before the instance is gone); a
failed early release only warns, and the cleanups of the steps that created its resources try again when
the run ends."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from goldsmith.bake import machines
from goldsmith.bake.context import BakeOptions
from goldsmith.bake.machines import InstanceSpec
from goldsmith.bake.state import BuildState
from goldsmith.bake.steps.create_key_pair import CreateKeyPair
from goldsmith.bake.steps.create_security_group import CreateSecurityGroup
from goldsmith.bake.steps.release_instance import ReleaseInstance
from goldsmith.engine.cancel import CancelToken
from goldsmith.engine.journal import Journal
from goldsmith.engine.runner import run_steps
from goldsmith.errors import AwsError, CleanupError
from goldsmith.recipe.model import Build

SPEC = InstanceSpec("validation", Build(), "t3.micro")


class FlakyKeyPairs:
    """Deleting the key pair fails `failures` times (throttled), then works."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts = 0

    def __call__(self, ec2: Any, key_name: str, **_: Any) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise AwsError(f"DeleteKeyPair {key_name} failed: RequestLimitExceeded", code="RequestLimitExceeded")


def _setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failures: int) -> tuple[BuildState, Any, FlakyKeyPairs,
                                                                                    list[str]]:
    flaky = FlakyKeyPairs(failures)
    monkeypatch.setattr(machines.ec2ops, "delete_key_pair", flaky)
    groups: list[str] = []
    monkeypatch.setattr(machines.ec2ops, "delete_security_group", lambda ec2, group_id, **_: groups.append(group_id))
    warnings: list[str] = []
    events = SimpleNamespace(warn=warnings.append, info=lambda *a, **k: None, step_started=lambda name: None,
                             step_finished=lambda *a, **k: None)
    ctx = SimpleNamespace(aws=SimpleNamespace(ec2=lambda region: None), events=events, cancel=CancelToken(),
                          journal=Journal(path=tmp_path / "j.json", build_id="b-1"), waits=None,
                          options=BakeOptions(work_dir=tmp_path))
    state = BuildState(build_id="b-1", region="us-east-1", facts={}, tags={})
    state.instances["validation"].security_group_id = "sg-1"
    state.instances["validation"].key_name = "goldsmith-b-1-validate"
    ctx.groups = groups
    return state, ctx, flaky, warnings


def test_release_terminates_without_waiting_and_leaves_the_group_to_the_cleanup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, ctx, flaky, warnings = _setup(tmp_path, monkeypatch, failures=0)
    terminated: list[tuple[str, bool]] = []
    monkeypatch.setattr(machines.ec2ops, "terminate_instance",
                        lambda ec2, instance_id, waits, wait_gone=True: terminated.append((instance_id, wait_gone)))
    state.instances["validation"].instance_id = "i-1"

    ReleaseInstance(SPEC).run(state, ctx)

    assert terminated == [("i-1", False)] and state.instances["validation"].terminating
    assert flaky.attempts == 1 and state.instances["validation"].key_name is None
    assert ctx.groups == [] and state.instances["validation"].security_group_id == "sg-1" and warnings == []


def test_a_failed_early_release_warns_and_cleanup_removes_it_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, ctx, flaky, warnings = _setup(tmp_path, monkeypatch, failures=1)

    ReleaseInstance(SPEC).run(state, ctx)  # must not raise: the image passed, a throttled delete is not its fault

    assert flaky.attempts == 1
    assert len(warnings) == 1 and "RequestLimitExceeded" in warnings[0] and "try again" in warnings[0]
    state.outcome = "succeeded"
    CreateKeyPair(SPEC).cleanup(state, ctx)
    CreateSecurityGroup(SPEC).cleanup(state, ctx)
    assert flaky.attempts == 2 and ctx.groups == ["sg-1"]
    assert state.instances["validation"].key_name is None


def test_cleanup_reports_what_it_still_could_not_remove(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state, ctx, flaky, _ = _setup(tmp_path, monkeypatch, failures=2)

    class AlreadyCreated(CreateKeyPair):
        def run(self, state: BuildState, ctx: Any) -> None:
            return None  # the key pair is in the state already

    with pytest.raises(CleanupError, match="delete them manually"):
        run_steps([AlreadyCreated(SPEC), ReleaseInstance(SPEC)], state, ctx)
    assert flaky.attempts == 2
