"""EC2's eventual consistency ("Eventual consistency in the Amazon EC2 API"), played by the sandbox gateway:
with a `not_found_after_create` rule, a call that uses a resource created less than `seconds` ago is
answered with that resource's NotFound, as AWS may answer right after a create. Bakes must ride through
it without launching anything twice and without taking a running instance for terminated.

The bakes are real `invoke bake` subprocesses against the session's sandbox (as in test_faults), except
the cancellation test, which runs a bake in a worker thread with a cancel token (as pipelines do).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from goldsmith.aws.tags import BUILD_ID_TAG
from goldsmith.bake.api import bake as bake_in_process
from goldsmith.bake.context import BakeOptions
from goldsmith.engine.cancel import CancelToken
from goldsmith.errors import Interrupted
from goldsmith.recipe.loader import load_recipe
from goldsmith.targets.sandbox import SandboxTarget
from tests.reliability.helpers import FAST, BakeRun, bake, clean, ec2_client, tagged_leftovers
from tests.sandbox.helpers import build_ids

pytestmark = pytest.mark.sandbox


@pytest.fixture
def control(sandbox_client: Any) -> Iterator[Any]:
    """The gateway's control API with a fresh request log; faults cleared however the test ends."""
    sandbox_client.reset_counts()
    yield sandbox_client
    sandbox_client.clear_faults()


def _young(action: str, seconds: float, *resources: str) -> dict[str, Any]:
    rule: dict[str, Any] = {"kind": "not_found_after_create", "action": action, "seconds": seconds}
    return {**rule, "resources": list(resources)} if resources else rule


def _instances(url: str, build_id: str) -> dict[str, str]:
    """Every instance tagged with the build id, terminated ones included: id -> state."""
    ec2 = ec2_client(url, "us-east-1")
    reservations = ec2.describe_instances(Filters=[{"Name": f"tag:{BUILD_ID_TAG}", "Values": [build_id]}])
    return {i["InstanceId"]: i["State"]["Name"] for r in reservations["Reservations"] for i in r["Instances"]}


def _succeeded_leaving_only_artifacts(url: str, run: BakeRun, sandbox_dir: Path) -> None:
    assert run.returncode == 0, run.output[-3000:]
    left = tagged_leftovers(url, run.build_id)
    assert {key.split("/", 1)[1] for key in left} <= {"images", "snapshots"}, left
    assert clean(run.build_id, run.work, sandbox_dir).returncode == 0


def test_launch_right_after_its_group_and_key_pair_is_retried_and_launches_once(
    control: Any, sandbox: Any, sandbox_dir: Path, tmp_path: Path
) -> None:
    """RunInstances answers InvalidGroup/InvalidKeyPair.NotFound for 1 s after they were created: the launch
    is retried with the same ClientToken, and each role gets exactly one instance."""
    control.set_faults([_young("RunInstances", 1.0, "security-group", "key-pair")])
    run = bake(FAST, tmp_path, sandbox_dir)
    control.clear_faults()
    assert run.returncode == 0, run.output[-3000:]
    by_token: dict[str, list[str | None]] = defaultdict(list)
    for request in control.requests(action="RunInstances"):
        if run.build_id in request["params"].get("ClientToken", ""):
            by_token[request["params"]["ClientToken"]].append(request["fault"])
    assert len(by_token) == 2, by_token  # the build instance and the validation instance
    for faults in by_token.values():
        assert faults[-1] is None and faults.count(None) == 1, by_token  # one launch per token
        assert len(faults) >= 2 and set(faults[:-1]) <= {"InvalidGroup.NotFound", "InvalidKeyPair.NotFound"}
    instances = _instances(sandbox.gateway_url, run.build_id)
    assert len(instances) == 2 and set(instances.values()) == {"terminated"}, instances
    _succeeded_leaving_only_artifacts(sandbox.gateway_url, run, sandbox_dir)


def test_a_snapshot_not_yet_known_to_describe_snapshots_is_waited_for(
    control: Any, sandbox: Any, sandbox_dir: Path, tmp_path: Path
) -> None:
    """DescribeSnapshots answers InvalidSnapshot.NotFound for 1 s after CreateSnapshots: the snapshot wait
    retries it (botocore's snapshot_completed failed the bake on it)."""
    control.set_faults([_young("DescribeSnapshots", 1.0)])
    run = bake(FAST, tmp_path, sandbox_dir)
    control.clear_faults()
    assert run.returncode == 0, run.output[-3000:]
    faults = [r["fault"] for r in control.requests(action="DescribeSnapshots")]
    assert "InvalidSnapshot.NotFound" in faults and faults[-1] is None, faults
    _succeeded_leaving_only_artifacts(sandbox.gateway_url, run, sandbox_dir)


def test_snapshots_are_tagged_by_tag_specifications_only(
    control: Any, sandbox: Any, sandbox_dir: Path, tmp_path: Path
) -> None:
    """CreateSnapshots carries the build's tags once (TagSpecifications), not also CopyTagsFromSource=volume
    (the volumes have the same keys: EC2 may refuse the duplicates); the snapshots still carry the build id."""
    run = bake(FAST, tmp_path, sandbox_dir)
    assert run.returncode == 0, run.output[-3000:]
    [create] = [r for r in control.requests(action="CreateSnapshots")
                if run.build_id in " ".join(r["params"].values())]
    assert "CopyTagsFromSource" not in create["params"]
    assert any(k.startswith("TagSpecification.1.Tag.") for k in create["params"])
    snapshots = tagged_leftovers(sandbox.gateway_url, run.build_id, ["us-east-1"]).get("us-east-1/snapshots", [])
    assert len(snapshots) == 2, snapshots  # root and data volume, found by their goldsmith:build-id tag
    _succeeded_leaving_only_artifacts(sandbox.gateway_url, run, sandbox_dir)


def test_terminate_right_after_launch_is_retried_until_ec2_knows_the_instance(
    control: Any, sandbox: Any, sandbox_dir: Path, tmp_path: Path
) -> None:
    """TerminateInstances answers InvalidInstanceID.NotFound for 15 s after RunInstances (the validation
    instance is released well within that): retried, each instance really terminated, nothing left."""
    control.set_faults([_young("TerminateInstances", 15.0, "instance")])
    run = bake(FAST, tmp_path, sandbox_dir)
    control.clear_faults()
    assert run.returncode == 0, run.output[-3000:]
    terminations = control.requests(action="TerminateInstances")
    assert "InvalidInstanceID.NotFound" in [r["fault"] for r in terminations]
    instances = _instances(sandbox.gateway_url, run.build_id)
    assert len(instances) == 2 and set(instances.values()) == {"terminated"}, instances
    assert sorted(r["params"]["InstanceId.1"] for r in terminations if r["fault"] is None) == sorted(instances)
    _succeeded_leaving_only_artifacts(sandbox.gateway_url, run, sandbox_dir)


def test_a_bake_retrying_a_young_groups_not_found_stops_at_once_when_cancelled(
    control: Any, sandbox: Any, sandbox_dir: Path, tmp_path: Path
) -> None:
    """AuthorizeSecurityGroupIngress answers InvalidGroup.NotFound for 120 s; the bake runs in a worker thread
    and its token is cancelled while it retries: it stops within a pause and cleans up (the retry used to
    sleep with time.sleep, deaf to the token, for its whole 30 s grace)."""
    control.set_faults([_young("AuthorizeSecurityGroupIngress", 120.0, "security-group")])
    token = CancelToken()
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            bake_in_process(load_recipe(FAST), SandboxTarget(state_dir=sandbox_dir), BakeOptions(work_dir=tmp_path),
                            cancel=token)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 60
    while len(control.requests(action="AuthorizeSecurityGroupIngress")) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(control.requests(action="AuthorizeSecurityGroupIngress")) >= 3
    t0 = time.monotonic()
    token.cancel("test: cancelled while the group is not yet known")
    worker.join(60)
    stopped = time.monotonic() - t0
    assert not worker.is_alive()
    assert [type(e) for e in outcome] == [Interrupted], outcome
    assert stopped < 5, f"the bake took {stopped:.1f} s to stop"
    (build_id,) = build_ids(tmp_path)
    assert tagged_leftovers(sandbox.gateway_url, build_id, ["us-east-1"]) == {}
    assert control.requests(action="RunInstances") == []
