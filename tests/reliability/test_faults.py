"""Faults from AWS (throttling, 503, slow state changes) and from SSH (late server, dropped connection).

Each bake is a real `invoke bake` in a subprocess against the session's sandbox; afterwards nothing
of a failed bake may be left, and a successful one leaves only its images and snapshots.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.helpers import FAST, REPO, BakeRun, bake, clean, inventory, tagged_leftovers
from tests.reliability.slowssh import SlowSshProxy

pytestmark = pytest.mark.sandbox

RECIPES = REPO / "tests" / "reliability" / "recipes"
THROTTLING = [
    {"action": "*", "error": "RequestLimitExceeded", "rate": 0.20},
    {"action": "*", "error": "ServiceUnavailable", "rate": 0.05},
]
# EC2 carries each create out, then its answer is lost (a 500): botocore sends the call again.
LOST_ANSWERS = [{"action": action, "error": "InternalError", "nth": 1, "lose_answer": True}
                for action in ("CreateKeyPair", "CreateSecurityGroup", "CreateSnapshots", "RegisterImage")]
SEED = 20261125
THROTTLED_BAKES = 20
AT_ONCE = 10  # the bakes mostly wait in botocore's backoff: ten at a time keep the test short


@pytest.fixture
def control(sandbox_client: Any) -> Iterator[Any]:
    """The gateway's control API, with faults and latency put back however the test ends."""
    yield sandbox_client
    sandbox_client.clear_faults()
    sandbox_client.set_latency("instant")


def _only_artifacts_left(url: str, run: BakeRun) -> None:
    """A successful bake leaves its images and snapshots (both regions for FAST) and nothing else."""
    left = tagged_leftovers(url, run.build_id)
    kinds = {key.split("/", 1)[1] for key in left}
    assert kinds <= {"images", "snapshots"}, left


def test_throttling_and_503s_from_ec2_do_not_fail_bakes(
    control: Any, sandbox: Any, sandbox_dir: Path, tmp_path: Path
) -> None:
    """20% RequestLimitExceeded + 5% 503 on every EC2 call (fixed seed): botocore's retries absorb them."""
    control.set_faults(THROTTLING, seed=SEED)
    control.reset_counts()
    works = [tmp_path / f"bake{i:02d}" for i in range(THROTTLED_BAKES)]
    with ThreadPoolExecutor(AT_ONCE) as pool:
        runs = list(pool.map(lambda w: bake(FAST, w, sandbox_dir), works))
    injected = Counter(r["fault"] for r in control.requests() if r.get("fault"))
    total = sum(control.counts().values())
    control.clear_faults()
    failed = [(r.build_id, r.returncode, r.output[-1500:]) for r in runs if r.returncode != 0]
    print(f"\n{THROTTLED_BAKES} throttled bakes ({AT_ONCE} at a time): {total} requests, injected {dict(injected)}, "
          f"bake times {min(r.seconds for r in runs):.1f}-{max(r.seconds for r in runs):.1f} s")
    assert failed == []
    assert injected["RequestLimitExceeded"] > 0 and injected["ServiceUnavailable"] > 0
    for run in runs:
        _only_artifacts_left(sandbox.gateway_url, run)
        assert clean(run.build_id, run.work, sandbox_dir).returncode == 0


def test_creates_whose_answers_were_lost_neither_fail_the_bake_nor_leak(
    control: Any, sandbox: Any, sandbox_dir: Path, tmp_path: Path
) -> None:
    """The build's key pair, security group, snapshots and image are each made by a call whose answer is lost
    (then retried by botocore): the bake succeeds and leaves its image and its snapshots only, none untagged."""
    url = sandbox.gateway_url
    before = inventory(url)
    control.reset_counts()
    control.set_faults(LOST_ANSWERS)
    run = bake(FAST, tmp_path, sandbox_dir)
    control.clear_faults()
    assert run.returncode == 0, run.output[-3000:]
    for rule in LOST_ANSWERS:
        assert [r["fault"] for r in control.requests(action=rule["action"])][:2] == ["InternalError", None], rule
    left = tagged_leftovers(url, run.build_id)
    assert sorted(left) == ["us-east-1/images", "us-east-1/snapshots", "us-west-2/images", "us-west-2/snapshots"]
    assert (len(left["us-east-1/images"]), len(left["us-east-1/snapshots"])) == (1, 2), left
    assert inventory(url) - before == {f"{key}/{rid}" for key, ids in left.items() for rid in ids}
    assert clean(run.build_id, run.work, sandbox_dir).returncode == 0


def test_bake_waits_for_an_ssh_server_that_refuses_connections_at_first(
    sandbox: Any, sandbox_dir: Path, tmp_path: Path
) -> None:
    """Connections to port 22 are refused for 3 s after the instance is running; the bake retries, then goes on."""
    proxy = SlowSshProxy(sandbox.gateway_url, refuse_for=3.0)
    try:
        state = proxy.state_dir(sandbox_dir, tmp_path / "sandbox-via-proxy")
        run = bake(FAST, tmp_path / "work", state)
    finally:
        proxy.close()
    assert run.returncode == 0, run.output[-3000:]
    assert len(proxy.windows) == 2  # the build instance and the validation instance
    for window in proxy.windows.values():
        assert window.ended_at is not None and window.ended_at - window.created >= 3.0
        assert window.refused >= 1  # the bake did try while refused, and got through only after
    _only_artifacts_left(sandbox.gateway_url, run)
    assert clean(run.build_id, run.work, sandbox_dir).returncode == 0


def test_connection_dropped_mid_provisioning_fails_clearly_and_cleans_up(
    sandbox: Any, sandbox_dir: Path, tmp_path: Path
) -> None:
    run = bake(RECIPES / "drop.yaml", tmp_path, sandbox_dir)
    assert run.returncode == 1, run.output[-3000:]
    assert "the SSH connection dropped while it ran" in run.output
    assert "idempotent: true" in run.output  # says how to have it retried
    assert "provision[0]" in run.output or "drop the connection" in run.output
    assert tagged_leftovers(sandbox.gateway_url, run.build_id, ["us-east-1"]) == {}


def test_idempotent_step_is_run_again_after_a_dropped_connection(
    sandbox: Any, sandbox_dir: Path, tmp_path: Path
) -> None:
    run = bake(RECIPES / "drop_idempotent.yaml", tmp_path, sandbox_dir)
    assert run.returncode == 0, run.output[-3000:]
    assert "reconnecting to run the step again" in run.output
    assert "second run went through" in run.output
    assert clean(run.build_id, run.work, sandbox_dir).returncode == 0


def test_waiter_timeout_names_the_resource_and_its_state_and_cleans_up(
    control: Any, sandbox: Any, sandbox_dir: Path, tmp_path: Path
) -> None:
    """The instance takes 4 s to stop (latency profile), the recipe allows 1 s."""
    control.set_latency("aws", scale=2.0)
    run = bake(RECIPES / "slow_stop.yaml", tmp_path, sandbox_dir)
    control.set_latency("instant")
    assert run.returncode == 1, run.output[-3000:]
    lines = [line for line in run.output.splitlines() if "did not become stopped within 1 s" in line]
    assert lines, run.output[-3000:]
    assert "i-" in lines[0] and "(last state: stopping)" in lines[0]
    assert tagged_leftovers(sandbox.gateway_url, run.build_id, ["us-east-1"]) == {}
