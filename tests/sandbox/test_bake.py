"""A recipe becomes a registered, shared AMI in the sandbox, and nothing is left behind on any path."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import paramiko
import pytest

from goldsmith.bake.api import bake
from goldsmith.bake.context import BakeOptions
from goldsmith.bake.sequences import step_names
from goldsmith.engine.runner import FAULT_ENV
from goldsmith.errors import BakeError
from goldsmith.recipe.loader import load_recipe
from goldsmith.targets.sandbox import SandboxTarget
from tests.sandbox.helpers import (
    REPO,
    build_ids,
    leftovers,
    manifest_of,
    run_invoke,
    sandbox_host_address,
    ssh_group,
)

pytestmark = pytest.mark.sandbox

BASE = REPO / "recipes" / "base.yaml"


@pytest.fixture(scope="module")
def baked_base(sandbox: Any, sandbox_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """recipes/base.yaml baked once through the real CLI (`invoke bake`), as the README does."""
    work = tmp_path_factory.mktemp("work")
    proc = run_invoke(["bake", str(BASE)], work_dir=work, env={"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (build_id,) = build_ids(work)
    return {"work": work, "build_id": build_id, "manifest": manifest_of(work, build_id), "out": proc.stdout}


def _ssh(ec2: Any, sandbox_client: Any, image_id: str, tmp: Path) -> tuple[paramiko.SSHClient, str]:
    """Launch an instance from the AMI with a fresh key and connect to it as admin."""
    key = ec2.create_key_pair(KeyName=f"t-{tmp.name}", KeyType="ed25519")
    inst = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                             KeyName=key["KeyName"],
                             SecurityGroupIds=[ssh_group(ec2, sandbox_host_address())])["Instances"][0]
    host, port = sandbox_client.endpoint(inst["InstanceId"])
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # a test-only throwaway instance
    pkey = paramiko.Ed25519Key.from_private_key(__import__("io").StringIO(key["KeyMaterial"]))
    client.connect(host, port, username="admin", pkey=pkey, timeout=30, allow_agent=False, look_for_keys=False)
    return client, inst["InstanceId"]


def _run(client: paramiko.SSHClient, command: str) -> str:
    _, stdout, _ = client.exec_command(command, timeout=30)
    out = stdout.read().decode()
    assert stdout.channel.recv_exit_status() == 0, f"{command!r} failed: {out}"
    return out


def test_base_image_has_root_and_data_volume_mapping(baked_base: dict[str, Any], ec2: Any) -> None:
    manifest = baked_base["manifest"]
    image_id = manifest["artifacts"]["us-east-1"]["ami_id"]
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    mapping = {m["DeviceName"]: m["Ebs"] for m in image["BlockDeviceMappings"]}
    assert set(mapping) == {"/dev/xvda", "/dev/sdf"}
    assert (mapping["/dev/xvda"]["VolumeSize"], mapping["/dev/xvda"]["VolumeType"]) == (8, "gp3")
    assert (mapping["/dev/sdf"]["VolumeSize"], mapping["/dev/sdf"]["VolumeType"]) == (10, "gp3")
    assert mapping["/dev/sdf"]["SnapshotId"] == manifest["artifacts"]["us-east-1"]["snapshots"]["/dev/sdf"]
    assert image["RootDeviceName"] == "/dev/xvda"
    tags = {t["Key"]: t["Value"] for t in image.get("Tags", [])}
    assert tags["goldsmith:build-id"] == baked_base["build_id"]
    assert manifest["artifact_id"] == f"us-east-1:{image_id}"  # Packer's field


def test_instance_from_base_image_has_the_provisioned_content(
    baked_base: dict[str, Any], ec2: Any, sandbox_client: Any, tmp_path: Path
) -> None:
    image_id = baked_base["manifest"]["artifacts"]["us-east-1"]["ami_id"]
    client, instance_id = _ssh(ec2, sandbox_client, image_id, tmp_path)
    try:
        assert "base" in _run(client, "cat /etc/motd")
        assert "install ok installed" in _run(client, "dpkg-query -W -f='${Status}' tree")
        assert _run(client, "cat /data/file").strip() == "baked by goldsmith"
        assert _run(client, "mountpoint /data; echo ok").strip().endswith("ok")
    finally:
        client.close()
        ec2.terminate_instances(InstanceIds=[instance_id])


def test_launch_and_snapshot_permissions_are_exactly_the_recipe_accounts(baked_base: dict[str, Any], ec2: Any) -> None:
    recipe = load_recipe(BASE).recipe
    artifact = baked_base["manifest"]["artifacts"]["us-east-1"]
    perms = ec2.describe_image_attribute(ImageId=artifact["ami_id"], Attribute="launchPermission")
    assert sorted(p["UserId"] for p in perms["LaunchPermissions"]) == sorted(recipe.image.share.accounts)
    for snapshot_id in artifact["snapshots"].values():
        snap = ec2.describe_snapshot_attribute(SnapshotId=snapshot_id, Attribute="createVolumePermission")
        assert sorted(p["UserId"] for p in snap["CreateVolumePermissions"]) == sorted(recipe.image.share.accounts)


def test_successful_bake_leaves_only_the_image_and_its_snapshots(baked_base: dict[str, Any], ec2: Any) -> None:
    left = leftovers(ec2, baked_base["build_id"])
    assert set(left) == {"images", "snapshots"}, left
    assert len(left["snapshots"]) == 2


@pytest.mark.parametrize("step", step_names(load_recipe(BASE), "us-east-1"))
def test_failure_in_any_step_cleans_up_everything(
    step: str, sandbox: Any, sandbox_dir: Path, ec2: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FAULT_ENV, f"{step}:error")
    loaded = load_recipe(BASE)
    target = SandboxTarget(state_dir=sandbox_dir)
    with pytest.raises(BakeError, match=f"injected fault in step {step}") as info:
        bake(loaded, target, BakeOptions(work_dir=tmp_path))
    assert info.value.exit_code == 1
    (build_id,) = build_ids(tmp_path)
    assert leftovers(ec2, build_id) == {}
    assert manifest_of(tmp_path, build_id)["outcome"] == "failed"


def test_ctrl_c_during_provisioning_exits_130_and_leaves_nothing(
    sandbox: Any, sandbox_dir: Path, ec2: Any, tmp_path: Path
) -> None:
    """A real SIGINT, delivered while a provisioner is running on the instance."""
    recipe = tmp_path / "slow.yaml"
    recipe.write_text(BASE.read_text().replace("provision:", "provision:\n  - {type: shell, inline: ['sleep 60']}", 1))
    recipe = recipe.rename(REPO / "recipes" / f".test-slow-{tmp_path.name}.yaml")
    try:
        env = {"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "invoke", "bake", str(recipe)], cwd=REPO, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env={**__import__("os").environ, "INVOKE_GOLDSMITH_WORK_DIR": str(tmp_path),
                 "INVOKE_GOLDSMITH_PLAIN": "true", **env},
        )
        deadline = time.monotonic() + 120
        log_dir = tmp_path / "logs"
        while time.monotonic() < deadline:
            logs = list(log_dir.glob("*.jsonl")) if log_dir.exists() else []
            if logs and "provision[0]" in logs[0].read_text():
                break
            time.sleep(0.1)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        recipe.unlink()
    assert proc.returncode == 130, out
    (build_id,) = build_ids(tmp_path)
    assert leftovers(ec2, build_id) == {}
    assert manifest_of(tmp_path, build_id)["outcome"] == "interrupted"
