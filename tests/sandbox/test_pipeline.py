"""`invoke pipeline` end to end in the sandbox: dependencies, images of the same run, failures, resume, Ctrl-C."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.sandbox.helpers import REPO, aws_keys, build_ids, leftovers, manifest_of, run_invoke
from tests.sandbox.pipeline_project import make_project, run_ids, run_manifest

pytestmark = pytest.mark.sandbox


def _channel(sandbox: Any, recipe: str, region: str) -> str:
    """The AMI /goldsmith/<recipe>/candidate names in the region, as any AWS client reads it."""
    ssm = boto3.client("ssm", region_name=region, endpoint_url=sandbox.gateway_url,
                       **aws_keys(sandbox))
    return str(ssm.get_parameter(Name=f"/goldsmith/{recipe}/candidate")["Parameter"]["Value"])


def _env(sandbox_dir: Path) -> dict[str, str]:
    return {"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir)}


def _copy_of_the_project(root: Path) -> Path:
    """This repository's recipes, pipelines and what they use, in a project of their own (files may change)."""
    for part in ("recipes", "pipelines", "provisioners", "templates", "files", "tests/images"):
        shutil.copytree(REPO / part, root / part)
    shutil.copy(REPO / "invoke.yaml", root / "invoke.yaml")
    return root


def _release(project: Path, work: Path, sandbox_dir: Path) -> tuple[str, dict[str, Any]]:
    """`invoke pipeline pipelines/release.yaml` with the build cache on; the run id and its manifest."""
    before = set(run_ids(work))
    proc = run_invoke(["pipeline", str(project / "pipelines" / "release.yaml")], work_dir=work,
                      env={**_env(sandbox_dir), "INVOKE_GOLDSMITH_CACHE": "true"})
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    (run_id,) = set(run_ids(work)) - before
    assert f"run {run_id}: succeeded" in output
    return run_id, run_manifest(work, run_id)


def test_release_pipeline_bakes_each_image_on_the_one_before_and_rebakes_only_what_changed(
        sandbox: Any, sandbox_dir: Path, ec2: Any, sandbox_client: Any, tmp_path: Path) -> None:
    project = _copy_of_the_project(tmp_path / "project")
    work = tmp_path / "work"
    # Baked once with the cache off, so that no image another test made stands in for this run's.
    proc = run_invoke(["pipeline", str(project / "pipelines" / "release.yaml")], work_dir=work,
                      env=_env(sandbox_dir))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    (run_id,) = run_ids(work)
    manifest = run_manifest(work, run_id)
    assert manifest["outcome"] == "succeeded"
    builds = {b["recipe"]: b for b in manifest["builds"]}
    assert list(builds) == ["base", "hardened", "web"]
    base, hardened, web = (builds[n]["artifacts"]["us-east-1"]["ami_id"] for n in ("base", "hardened", "web"))
    # Each builds on the image this run made, not on whatever was newest before.
    assert builds["hardened"]["source_ami"] == base
    assert builds["web"]["source_ami"] == hardened
    assert set(builds["web"]["artifacts"]) == {"us-east-1", "us-west-2"}  # the pipeline's regions override
    assert set(builds["base"]["artifacts"]) == {"us-east-1"}
    assert all(b["reused"] is False and b["outcome"] == "succeeded" for b in builds.values())
    assert builds["web"]["artifact_id"].startswith(f"us-east-1:{web},us-west-2:ami-")
    # The manifest's builds are the bakes' own manifests, and nothing temporary is left.
    for build in builds.values():
        assert manifest_of(work, build["build_id"])["artifact_id"] == build["artifact_id"]
        assert set(leftovers(ec2, build["build_id"])) <= {"images", "snapshots"}
    # web does not list base's /dev/sdf: the image inherits it, and every snapshot taken is in the image.
    image = ec2.describe_images(ImageIds=[web])["Images"][0]
    mapped = {m["DeviceName"]: m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"]}
    assert set(mapped) == {"/dev/xvda", "/dev/sdf"}
    assert sorted(mapped.values()) == sorted(leftovers(ec2, builds["web"]["build_id"])["snapshots"])
    # web was validated on top of hardened: its suite checks the image it was built on.
    assert builds["web"]["validation"]["failed"] == 0 and builds["web"]["validation"]["passed"] >= 4
    # The pipeline's channel names each recipe's image in every region it is in.
    for name, build in builds.items():
        for region, artifact in build["artifacts"].items():
            assert _channel(sandbox, name, region) == artifact["ami_id"]
    assert manifest["recipes"]["web"]["channels"] == ["candidate"]

    # Unchanged: every recipe is a cache hit; nothing is launched; the same AMIs, marked reused.
    launched = len(sandbox_client.requests(action="RunInstances"))
    _, again = _release(project, work, sandbox_dir)
    assert len(sandbox_client.requests(action="RunInstances")) == launched
    reused = {b["recipe"]: b for b in again["builds"]}
    assert {n: b["artifact_id"] for n, b in reused.items()} == {n: b["artifact_id"] for n, b in builds.items()}
    assert all(b["reused"] is True for b in reused.values())
    assert {n: r["status"] for n, r in again["recipes"].items()} == dict.fromkeys(builds, "reused")

    # A file only hardened uses changes: base is reused, hardened and web (built on it) are baked again.
    script = project / "provisioners" / "hardened" / "baseline.sh"
    script.write_text(script.read_text() + "\n# changed by the test\n")
    _, changed = _release(project, work, sandbox_dir)
    statuses = {n: r["status"] for n, r in changed["recipes"].items()}
    assert statuses == {"base": "reused", "hardened": "baked", "web": "baked"}
    rebaked = {b["recipe"]: b for b in changed["builds"]}
    assert rebaked["base"]["artifact_id"] == builds["base"]["artifact_id"]
    assert rebaked["hardened"]["source_ami"] == base
    assert rebaked["web"]["source_ami"] == rebaked["hardened"]["artifacts"]["us-east-1"]["ami_id"] != hardened
    assert _channel(sandbox, "web", "us-west-2") == rebaked["web"]["artifacts"]["us-west-2"]["ami_id"]
    assert _channel(sandbox, "base", "us-east-1") == base

    # --plan now says every recipe would be reused, and why, with reads only.
    requests_before = len(sandbox_client.requests())
    proc = run_invoke(["pipeline", str(project / "pipelines" / "release.yaml"), "--plan"], work_dir=work,
                      env={**_env(sandbox_dir), "INVOKE_GOLDSMITH_CACHE": "true"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    for name in ("base", "hardened", "web"):
        image = rebaked[name]["artifacts"]["us-east-1"]["ami_id"]
        assert any(line.split()[:3] == [name, "REUSE", image] and "same inputs as build" in line for line in lines)
    actions = [r["action"] for r in sandbox_client.requests()[requests_before:]]
    assert all(a.startswith(("Describe", "Get")) for a in actions), actions


def test_a_failure_stops_only_its_dependents_and_resume_bakes_the_rest(sandbox: Any, sandbox_dir: Path, ec2: Any,
                                                                     sandbox_client: Any, tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    mid = project / "recipes" / "mid.yaml"
    good = mid.read_text()
    mid.write_text(good.replace("provision:\n", "provision:\n  - {type: shell, inline: ['exit 3']}\n", 1))
    pipeline = project / "pipelines" / "family.yaml"
    pipeline.write_text(pipeline.read_text() + "  - recipe: side\n")
    work = tmp_path / "work"

    proc = run_invoke(["pipeline", str(pipeline)], work_dir=work, env=_env(sandbox_dir))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output[-4000:]
    (run_id,) = run_ids(work)
    recipes = run_manifest(work, run_id)["recipes"]
    assert {n: r["status"] for n, r in recipes.items()} == {"root": "baked", "mid": "failed", "leaf": "skipped",
                                                            "side": "baked"}
    assert "exit" in recipes["mid"]["reason"] and recipes["leaf"]["reason"] == "mid did not produce an image"
    assert recipes["leaf"]["build_id"] == ""  # never started
    assert leftovers(ec2, recipes["mid"]["build_id"]) == {}
    assert f"--resume {run_id}" in output

    mid.write_text(good)  # the fix
    runs_before = len(sandbox_client.requests(action="RunInstances"))
    proc = run_invoke(["pipeline", str(pipeline), "--resume", run_id], work_dir=work, env=_env(sandbox_dir))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    manifest = run_manifest(work, run_id)
    assert {n: r["status"] for n, r in manifest["recipes"].items()} == {"root": "reused", "mid": "baked",
                                                                        "leaf": "baked", "side": "reused"}
    assert manifest["recipes"]["root"]["build_id"] == recipes["root"]["build_id"]
    builds = {b["recipe"]: b for b in manifest["builds"]}
    assert builds["root"]["reused"] is True and builds["mid"]["reused"] is False
    assert builds["mid"]["source_ami"] == recipes["root"]["images"]["us-east-1"]
    assert builds["leaf"]["source_ami"] == builds["mid"]["artifacts"]["us-east-1"]["ami_id"]
    # Two bakes (mid and leaf), each a build and a validation instance: root and side were not rebaked.
    assert len(sandbox_client.requests(action="RunInstances")) - runs_before == 4


def _provisioning(work: Path, recipe: str) -> bool:
    logs = list((work / "logs").glob(f"{recipe}-*.jsonl")) if (work / "logs").exists() else []
    return bool(logs) and "provision[0]" in logs[0].read_text()  # the `sleep 60` step


def test_ctrl_c_cancels_every_running_bake_and_each_cleans_up(sandbox: Any, sandbox_dir: Path, ec2: Any,
                                                            tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    for name in ("root", "side"):
        recipe = project / "recipes" / f"{name}.yaml"
        recipe.write_text(recipe.read_text().replace("provision:\n", "provision:\n  - {type: shell, inline: "
                                                     "['sleep 60']}\n", 1))
    pipeline = project / "pipelines" / "pair.yaml"
    pipeline.write_text("name: pair\nrecipes:\n  - recipe: root\n  - recipe: side\n  - recipe: mid\n")
    work = tmp_path / "work"
    env = {**os.environ, "INVOKE_GOLDSMITH_WORK_DIR": str(work), "INVOKE_GOLDSMITH_PLAIN": "true",
           **_env(sandbox_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "invoke", "pipeline", str(pipeline)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (_provisioning(work, "root") and _provisioning(work, "side")) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[0][-4000:]
            time.sleep(0.2)
        time.sleep(0.5)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, output[-4000:]
    assert time.monotonic() - t0 < 40, "the bakes should stop without waiting for `sleep 60`"
    (run_id,) = run_ids(work)
    manifest = run_manifest(work, run_id)
    assert manifest["outcome"] == "interrupted"
    statuses = {n: r["status"] for n, r in manifest["recipes"].items()}
    assert statuses == {"root": "cancelled", "side": "cancelled", "mid": "cancelled"}, manifest["recipes"]
    assert len(build_ids(work)) == 2  # mid never started
    for build_id in build_ids(work):
        assert leftovers(ec2, build_id) == {}
        assert manifest_of(work, build_id)["outcome"] == "interrupted"


def test_a_bake_failing_after_its_image_was_used_cancels_the_bakes_built_on_it(
        sandbox: Any, sandbox_dir: Path, ec2: Any, tmp_path: Path) -> None:
    """root's image is announced after validate-image, so mid starts on it; then root fails (its next step)
    and removes that image: mid is cancelled and cleans up, and nothing of either is left."""
    project = make_project(tmp_path / "project")
    pipeline = project / "pipelines" / "family.yaml"
    work = tmp_path / "work"
    env = {**_env(sandbox_dir), "GOLDSMITH_FAULT": "root/validation:release-instance:error"}
    proc = run_invoke(["pipeline", str(pipeline)], work_dir=work, env=env)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output[-4000:]
    (run_id,) = run_ids(work)
    recipes = run_manifest(work, run_id)["recipes"]
    assert recipes["root"]["status"] == "failed" and "injected fault" in recipes["root"]["reason"]
    assert recipes["mid"]["status"] == "cancelled", recipes["mid"]
    assert "root failed, and mid builds on its image" in recipes["mid"]["reason"]
    assert recipes["leaf"]["status"] == "skipped"
    for name in ("root", "mid"):
        assert leftovers(ec2, recipes[name]["build_id"]) == {}


def test_a_channel_that_cannot_be_promoted_fails_the_run(sandbox: Any, sandbox_dir: Path, sandbox_client: Any,
                                                        tmp_path: Path) -> None:
    """Every bake succeeds, but SSM refuses the channel write: the run is failed (exit 1), not succeeded."""
    project = make_project(tmp_path / "project")
    pipeline = project / "pipelines" / "solo.yaml"
    pipeline.write_text("name: solo\nrecipes:\n  - recipe: side\nchannels: [candidate]\n")
    work = tmp_path / "work"
    sandbox_client.set_faults([{"action": "PutParameter", "error": "AccessDenied", "rate": 1.0}])
    try:
        proc = run_invoke(["pipeline", str(pipeline)], work_dir=work, env=_env(sandbox_dir))
    finally:
        sandbox_client.clear_faults()
    assert proc.returncode == 1, (proc.stdout + proc.stderr)[-3000:]
    (run_id,) = run_ids(work)
    manifest = run_manifest(work, run_id)
    assert manifest["outcome"] == "failed"
    assert manifest["recipes"]["side"]["status"] == "baked"
    assert manifest["recipes"]["side"]["reason"].startswith("not promoted to candidate")
