"""Validation in the sandbox: an instance FROM the new AMI runs the suites before anything is shared.

Each test bakes for real through the sandbox (the base image first, once per module) and then looks at
what the sandbox holds: the manifest's validation record, tags, the gateway's request log, leftovers.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from goldsmith.bake.api import bake
from goldsmith.bake.context import BakeOptions
from goldsmith.errors import ValidationFailed
from goldsmith.recipe.loader import load_recipe
from goldsmith.targets.sandbox import SandboxTarget
from tests.processes import running
from tests.sandbox.helpers import REPO, build_ids, leftovers, manifest_of, run_invoke

pytestmark = pytest.mark.sandbox

RECIPES = REPO / "recipes"
HARDENING = REPO / "tests" / "images" / "test_hardening.py"

FAILING_SUITE = '''
def test_passes(host):
    assert host.file("/etc/motd").exists

def test_the_image_has_a_unicorn(host):
    assert host.file("/etc/unicorn").exists, "no unicorn in /etc"
'''

SLOW_SUITE = '''
import os, pathlib, time

def test_takes_its_time(host):
    host.run("true")
    parent = pathlib.Path(f"/proc/{os.getppid()}/cmdline").read_bytes().replace(b"\\0", b" ").decode()
    pathlib.Path(MARKER).write_text(f"{os.getpid()} {os.getppid()} {parent}")
    time.sleep(120)
'''


def tags_of(ec2: Any, resource_id: str) -> dict[str, str]:
    found = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [resource_id]}])["Tags"]
    return {t["Key"]: t["Value"] for t in found}


def last_seq(client: Any) -> int:
    log = client.requests()
    return int(log[-1]["seq"]) if log else 0


def requests_since(client: Any, seq: int, action: str) -> list[dict[str, Any]]:
    return [r for r in client.requests(action) if int(r["seq"]) > seq]


def images_of_build(ec2: Any, build_id: str) -> list[str]:
    found = ec2.describe_images(Owners=["self"], Filters=[{"Name": "tag:goldsmith:build-id", "Values": [build_id]}])
    return [i["ImageId"] for i in found["Images"]]


@pytest.fixture(scope="module")
def env(sandbox: Any, sandbox_dir: Path) -> dict[str, str]:
    return {"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir)}


@pytest.fixture(scope="module")
def base_image(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> str:
    """recipes/base.yaml baked once: the source of hardened.yaml and of the variants below."""
    work = tmp_path_factory.mktemp("base")
    proc = run_invoke(["bake", str(RECIPES / "base.yaml")], work_dir=work, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (build_id,) = build_ids(work)
    return str(manifest_of(work, build_id)["artifacts"]["us-east-1"]["ami_id"])


@pytest.fixture(scope="module")
def hardened(base_image: str, env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("hardened")
    proc = run_invoke(["bake", str(RECIPES / "hardened.yaml")], work_dir=work, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (build_id,) = build_ids(work)
    return {"build_id": build_id, "manifest": manifest_of(work, build_id), "out": proc.stdout + proc.stderr}


@pytest.fixture
def variant(tmp_path: Path) -> Iterator[Any]:
    """A variant of recipes/base.yaml with its own suite, both inside the project (recipe paths must be)."""
    made: list[Path] = []
    suite_dir = REPO / "tests" / "images" / f".test-{tmp_path.name}"  # dot: never collected by pytest

    def make(validate: str, suite_text: str) -> Path:
        suite_dir.mkdir(exist_ok=True)
        (suite_dir / "test_variant.py").write_text(suite_text)
        # Its own recipe and image names, so a kept image never becomes "the newest base" of hardened.yaml.
        text = (RECIPES / "base.yaml").read_text().replace("name: base\n", "name: vtest\n", 1)
        text = text.replace('name: "base-', 'name: "vtest-', 1)
        suite = (suite_dir / "test_variant.py").relative_to(REPO)
        text = text[: text.index("validate:")] + validate.format(suite=suite)
        path = RECIPES / f".test-validate-{tmp_path.name}.yaml"
        path.write_text(text)
        made.append(path)
        return path

    yield make
    for path in made:
        path.unlink(missing_ok=True)
    shutil.rmtree(suite_dir, ignore_errors=True)


def test_hardened_image_bakes_and_validates_with_no_failures(hardened: dict[str, Any], ec2: Any) -> None:
    validation = hardened["manifest"]["validation"]
    assert validation["failed"] == 0 and validation["errors"] == 0, validation
    assert validation["passed"] >= 12
    assert validation["failures"] == []
    assert Path(validation["junit"]).is_file()
    assert "test_build_key_is_not_authorized" in Path(validation["junit"]).read_text()
    image_id = hardened["manifest"]["artifacts"]["us-east-1"]["ami_id"]
    assert tags_of(ec2, image_id)["goldsmith:validation"] == "passed"


def test_validation_instance_is_gone_after_a_passing_validation(hardened: dict[str, Any], ec2: Any) -> None:
    left = leftovers(ec2, hardened["build_id"])
    assert set(left) == {"images", "snapshots"}, left  # no instance, volume, key pair or group


def test_failing_suite_fails_the_bake_and_deregisters_before_any_sharing(
    base_image: str, env: dict[str, str], variant: Any, ec2: Any, sandbox_client: Any, tmp_path: Path
) -> None:
    recipe = variant("validate:\n  suites: [{suite}]\n  on_failure: deregister\n", FAILING_SUITE)
    start = last_seq(sandbox_client)
    proc = run_invoke(["bake", str(recipe)], work_dir=tmp_path / "work", env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "no unicorn in /etc" in proc.stderr + proc.stdout
    (build_id,) = build_ids(tmp_path / "work")
    manifest = manifest_of(tmp_path / "work", build_id)
    assert manifest["outcome"] == "failed"
    assert (manifest["validation"]["passed"], manifest["validation"]["failed"]) == (1, 1)
    [failure] = manifest["validation"]["failures"]
    assert "test_the_image_has_a_unicorn" in failure["test"] and "no unicorn in /etc" in failure["message"]
    assert requests_since(sandbox_client, start, "ModifyImageAttribute") == []
    assert requests_since(sandbox_client, start, "RegisterImage"), "the image was never registered"
    assert leftovers(ec2, build_id) == {}  # no AMI, snapshot, instance, volume, key pair or group


def test_on_failure_keep_keeps_the_image_tagged_failed_and_unshared(
    base_image: str, env: dict[str, str], variant: Any, ec2: Any, sandbox_client: Any, tmp_path: Path
) -> None:
    recipe = variant("validate:\n  suites: [{suite}]\n  on_failure: keep\n", FAILING_SUITE)
    start = last_seq(sandbox_client)
    proc = run_invoke(["bake", str(recipe)], work_dir=tmp_path / "work", env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (build_id,) = build_ids(tmp_path / "work")
    left = leftovers(ec2, build_id)
    assert set(left) == {"images", "snapshots"}, left
    [image_id] = left["images"]
    assert tags_of(ec2, image_id)["goldsmith:validation"] == "failed"
    perms = ec2.describe_image_attribute(ImageId=image_id, Attribute="launchPermission")["LaunchPermissions"]
    assert perms == []
    assert requests_since(sandbox_client, start, "ModifyImageAttribute") == []
    ec2.deregister_image(ImageId=image_id)
    for snapshot_id in left["snapshots"]:
        ec2.delete_snapshot(SnapshotId=snapshot_id)


def test_hardening_suite_catches_the_build_key_left_in_the_image(
    base_image: str, env: dict[str, str], ec2: Any, tmp_path: Path
) -> None:
    """hardened.yaml with its sealing step told to keep authorized_keys: only the key checks fail."""
    proc = run_invoke(["bake", str(RECIPES / "hardened.yaml"), "--var", "remove_build_key=false"],
                      work_dir=tmp_path, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (build_id,) = build_ids(tmp_path)
    failures = manifest_of(tmp_path, build_id)["validation"]["failures"]
    assert [f["test"].split("::")[1].split("[")[0] for f in failures] == ["test_build_key_is_not_authorized"]
    assert "still authorized in /home/admin/.ssh/authorized_keys" in failures[0]["message"]
    assert leftovers(ec2, build_id) == {}


def test_base_image_fails_the_hardening_suite_on_its_build_key(
    base_image: str, sandbox_dir: Path, ec2: Any, tmp_path: Path
) -> None:
    """base.yaml leaves the key the sandbox's init installed on the build instance; the suite sees it."""
    loaded = load_recipe(RECIPES / "base.yaml")
    with pytest.raises(ValidationFailed) as info:
        bake(loaded, SandboxTarget(state_dir=sandbox_dir),
             BakeOptions(work_dir=tmp_path, extra_suites=(str(HARDENING),)))
    assert "test_build_key_is_not_authorized" in str(info.value)
    (build_id,) = build_ids(tmp_path)
    assert leftovers(ec2, build_id) == {}


def test_on_build_validation_fails_before_the_stop_and_snapshots(
    base_image: str, env: dict[str, str], variant: Any, ec2: Any, tmp_path: Path
) -> None:
    recipe = variant("validate:\n  suites: [{suite}]\n  on_build: true\n", FAILING_SUITE)
    proc = run_invoke(["bake", str(recipe)], work_dir=tmp_path / "work", env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (build_id,) = build_ids(tmp_path / "work")
    manifest = manifest_of(tmp_path / "work", build_id)
    steps = {s["name"]: s["status"] for s in manifest["steps"]}
    assert steps["validate-build"] == "failed"
    assert "snapshot-volumes" not in steps and "register-image" not in steps
    assert manifest["validation"]["build"]["failed"] == 1
    assert leftovers(ec2, build_id) == {}


def test_ctrl_c_during_validation_exits_130_and_removes_the_validation_instance(
    base_image: str, env: dict[str, str], variant: Any, ec2: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "suite-started"
    recipe = variant("validate:\n  suites: [{suite}]\n", f"MARKER = {str(marker)!r}\n" + SLOW_SUITE)
    work = tmp_path / "work"
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", "bake", str(recipe)], cwd=REPO, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, "INVOKE_GOLDSMITH_WORK_DIR": str(work), "INVOKE_GOLDSMITH_PLAIN": "true", **env},
    )
    wait_for(marker, proc)
    suite_pid, server_pid, parent = marker.read_text().split(" ", 2)
    assert "goldsmith.validate.forkserver" in parent  # the suites run forked from the warm server
    instance_id = validation_instance(work)
    described = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert described["State"]["Name"] == "running"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 130, out
    assert not running(suite_pid), "the suites' pytest process outlived the bake"
    deadline = time.monotonic() + 5
    while running(server_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(server_pid), "the suites' fork server outlived the bake"
    (build_id,) = build_ids(work)
    assert leftovers(ec2, build_id) == {}
    state = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "terminated"


def test_invoke_validate_checks_an_existing_ami_and_cleans_up(
    hardened: dict[str, Any], env: dict[str, str], ec2: Any, tmp_path: Path
) -> None:
    image_id = hardened["manifest"]["artifacts"]["us-east-1"]["ami_id"]
    proc = run_invoke(["validate", image_id, "--suite", str(HARDENING)], work_dir=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The build-key check needs the bake's key, which only a bake knows: skipped here.
    assert f"{image_id} passed validation: 13 passed, 0 failed, 0 errors, 1 skipped" in proc.stdout
    (check_id,) = build_ids(tmp_path)
    assert check_id.startswith("validate-")
    assert leftovers(ec2, check_id) == {}


def test_invoke_validate_of_a_failing_ami_exits_1_and_cleans_up(
    base_image: str, env: dict[str, str], ec2: Any, tmp_path: Path
) -> None:
    proc = run_invoke(["validate", base_image, "--suite", str(HARDENING)], work_dir=tmp_path, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "test_sshd_forbids_password_login" in proc.stderr
    (check_id,) = build_ids(tmp_path)
    assert leftovers(ec2, check_id) == {}
    assert ec2.describe_images(ImageIds=[base_image])["Images"], "validating an AMI never deregisters it"


def wait_for(marker: Path, proc: subprocess.Popen[str], timeout: float = 180) -> None:
    """Until the suite is running on the validation instance (it writes the marker)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"the bake ended before the suite started:\n{output}")
        if marker.exists() and marker.read_text():
            return
        time.sleep(0.1)
    raise AssertionError("the slow suite never started")


def validation_instance(work: Path) -> str:
    import json

    (journal,) = (work / "builds").glob("*.json")
    entries = json.loads(journal.read_text())["entries"]
    [instance] = [e["id"] for e in entries if e["kind"] == "instance" and e["name"].startswith("validate-")]
    return str(instance)
