"""Instances boot like EC2 instances: the image's own systemd runs what a recipe enabled, across reboots
and on the instance launched from the AMI (issue 13)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.sandbox.helpers import REPO, build_ids, leftovers, manifest_of, run_invoke

pytestmark = pytest.mark.sandbox

RECIPE = REPO / "tests" / "sandbox" / "recipes" / "enabled_service.yaml"


def test_a_service_enabled_then_rebooted_runs_after_the_reboot_and_from_the_ami(
    sandbox: Any, sandbox_dir: Path, ec2: Any, tmp_path: Path
) -> None:
    proc = run_invoke(["bake", str(RECIPE)], work_dir=tmp_path, env={"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir)})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "rebooting" in out and "the service came back with the reboot" in out
    (build_id,) = build_ids(tmp_path)
    manifest = manifest_of(tmp_path, build_id)
    validation = manifest["validation"]
    assert (validation["passed"], validation["failed"], validation["errors"]) == (1, 0, 0), validation
    image_id = manifest["artifacts"]["us-east-1"]["ami_id"]
    left = leftovers(ec2, build_id)
    assert set(left) == {"images", "snapshots"}, left
    ec2.deregister_image(ImageId=image_id)
    for snapshot_id in left["snapshots"]:
        ec2.delete_snapshot(SnapshotId=snapshot_id)
