"""The tasks as a user runs them: check, clean, --keep-on-error, sandbox.env/endpoint/status."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox.helpers import REPO, build_ids, leftovers, run_invoke

pytestmark = pytest.mark.sandbox

BASE = str(REPO / "recipes" / "base.yaml")


def test_check_accepts_the_examples_without_touching_the_sandbox(
    sandbox_client: Any, sandbox_dir: Path, tmp_path: Path
) -> None:
    before = sandbox_client.counts()
    for path in ("recipes/base.yaml", "recipes/web.yaml", "pipelines/release.yaml"):
        proc = run_invoke(["check", str(REPO / path)], work_dir=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert "ok" in proc.stdout
    assert sandbox_client.counts() == before


def test_unknown_flag_and_bad_var_exit_2_without_aws_calls(sandbox_client: Any, tmp_path: Path) -> None:
    before = sandbox_client.counts()
    proc = run_invoke(["bake", BASE, "--no-such-flag"], work_dir=tmp_path)
    assert proc.returncode == 2, proc.stderr
    proc = run_invoke(["bake", BASE, "--var", "nosuchvariable=1"], work_dir=tmp_path)
    assert proc.returncode == 2
    assert "--var" in proc.stderr and "nosuchvariable" in proc.stderr
    proc = run_invoke(["bake", BASE, "--var", "no-equals-sign"], work_dir=tmp_path)
    assert proc.returncode == 2 and "no-equals-sign" in proc.stderr
    assert sandbox_client.counts() == before


def test_keep_on_error_leaves_the_instance_reachable_then_clean_removes_it(
    sandbox: Any, sandbox_dir: Path, sandbox_client: Any, ec2: Any, tmp_path: Path
) -> None:
    env = {"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir), "GOLDSMITH_FAULT": "provision:error"}
    proc = run_invoke(["bake", BASE, "--keep-on-error"], work_dir=tmp_path, env=env)
    assert proc.returncode == 1, proc.stderr
    (build_id,) = build_ids(tmp_path)
    kept = leftovers(ec2, build_id)
    assert len(kept.get("instances", [])) == 1
    assert "key-pairs" in kept and "security-groups" in kept
    assert "images" not in kept and "snapshots" not in kept
    assert f"invoke clean --build-id {build_id}" in proc.stderr
    key_file = tmp_path / "keys" / f"{build_id}.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600

    listed = run_invoke(["clean", "--build-id", build_id], work_dir=tmp_path, env=env)
    assert listed.returncode == 0 and "would remove" in listed.stdout
    assert leftovers(ec2, build_id) == kept  # without --yes nothing goes
    removed = run_invoke(["clean", "--build-id", build_id, "--yes"], work_dir=tmp_path, env=env)
    assert removed.returncode == 0, removed.stderr
    assert leftovers(ec2, build_id) == {}


def test_clean_needs_a_build_id_or_all(tmp_path: Path) -> None:
    proc = run_invoke(["clean"], work_dir=tmp_path)
    assert proc.returncode == 2 and "--build-id" in proc.stderr


def test_sandbox_env_endpoint_and_status(sandbox: Any, sandbox_dir: Path, ec2: Any, tmp_path: Path) -> None:
    env = {"INVOKE_GOLDSMITH_SANDBOX_DIR": str(sandbox_dir)}
    proc = run_invoke(["sandbox.env"], work_dir=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    exports = [shlex.split(line)[1] for line in proc.stdout.splitlines() if line.startswith("export ")]
    exported = dict(e.split("=", 1) for e in exports)
    assert exported["AWS_ENDPOINT_URL"] == sandbox.gateway_url

    image = ec2.describe_images(Owners=["136693071363"])["Images"][0]
    instance = ec2.run_instances(ImageId=image["ImageId"], MinCount=1, MaxCount=1)["Instances"][0]
    try:
        proc = run_invoke(["sandbox.endpoint", instance["InstanceId"]], work_dir=tmp_path, env=env)
        assert proc.returncode == 0, proc.stderr
        host, port = proc.stdout.split()
        assert (host, port) == (instance["PrivateIpAddress"], "22")
        status = run_invoke(["sandbox.status"], work_dir=tmp_path, env=env)
        assert instance["InstanceId"] in status.stdout and port in status.stdout
    finally:
        ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])


def test_missing_tools_are_named_with_the_install_command_and_exit_2(tmp_path: Path) -> None:
    proc = run_invoke(["sandbox.up"], work_dir=tmp_path,
                      env={"PATH": str(tmp_path / "empty-bin"), "GOLDSMITH_SANDBOX_DIR": str(tmp_path / "sbx")})
    assert proc.returncode == 2, proc.stderr
    assert "apt-get install" in proc.stderr and "debootstrap" in proc.stderr


def test_aws_target_follows_the_standard_chain_and_endpoint_env(
    sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--target aws: credentials, region and AWS_ENDPOINT_URL come from boto3's own chain, nothing of ours."""
    from goldsmith.aws.session import Aws
    from goldsmith.targets import make_target

    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.gateway_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", sandbox.credentials.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", sandbox.credentials.secret_access_key)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    aws = Aws(make_target("aws").aws_settings())
    assert aws.region == "eu-west-1"
    images = aws.ec2().describe_images(Owners=["136693071363"])["Images"]
    assert images and images[0]["Name"].startswith("debian-12-sandbox-amd64-")


def test_clean_all_keeps_a_succeeded_bake_s_ami_and_removes_a_killed_bake_s_leftovers(
    sandbox: Any, sandbox_dir: Path, ec2: Any, tmp_path: Path
) -> None:
    env = {"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir)}
    good = run_invoke(["bake", BASE], work_dir=tmp_path, env=env)
    assert good.returncode == 0, good.stderr[-3000:]
    (good_id,) = build_ids(tmp_path)
    product = leftovers(ec2, good_id)
    assert set(product) == {"images", "snapshots"}, product
    killed = run_invoke(["bake", BASE], work_dir=tmp_path, env={**env, "GOLDSMITH_FAULT": "register-image:SIGKILL"})
    assert killed.returncode == -9, killed.stderr[-3000:]
    (killed_id,) = set(build_ids(tmp_path)) - {good_id}
    # The build instance was terminated when its snapshots started; its image and temporaries are left.
    assert {"images", "snapshots", "key-pairs", "security-groups"} <= set(leftovers(ec2, killed_id))

    cleaned = run_invoke(["clean", "--all", "--yes"], work_dir=tmp_path, env=env)
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert leftovers(ec2, good_id) == product
    assert leftovers(ec2, killed_id) == {}

    # The same AMI seen from another machine (no journal): kept, unless --images says otherwise.
    (tmp_path / "builds" / f"{good_id}.json").unlink()
    kept = run_invoke(["clean", "--build-id", good_id, "--yes"], work_dir=tmp_path, env=env)
    assert kept.returncode == 0, kept.stderr
    assert f"kept: no journal says build {good_id} failed; pass --images to remove them too" in kept.stdout
    assert leftovers(ec2, good_id) == product
    removed = run_invoke(["clean", "--build-id", good_id, "--images", "--yes"], work_dir=tmp_path, env=env)
    assert removed.returncode == 0, removed.stderr
    assert leftovers(ec2, good_id) == {}


def test_clean_refuses_an_unknown_region_without_calling_aws(sandbox_client: Any, tmp_path: Path) -> None:
    before = sandbox_client.counts()
    proc = run_invoke(["clean", "--all", "--region", "us-east-1", "--region", "eu-centrl-1"], work_dir=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "eu-centrl-1" in proc.stderr and "did you mean 'eu-central-1'" in proc.stderr
    assert sandbox_client.counts() == before


def test_a_source_ami_that_does_not_exist_is_bad_input(sandbox_dir: Path, sandbox_client: Any, tmp_path: Path) -> None:
    recipe = REPO / "recipes" / f".test-missing-ami-{tmp_path.name}.yaml"
    text = (REPO / "recipes" / "base.yaml").read_text()
    start, end = text.index("source:"), text.index("build:")
    recipe.write_text(text[:start] + "source:\n  id: ami-0123456789abcdef0\n\n" + text[end:])
    try:
        before = len(sandbox_client.requests(action="RunInstances"))
        proc = run_invoke(["bake", str(recipe)], work_dir=tmp_path, env={"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir)})
    finally:
        recipe.unlink()
    assert proc.returncode == 2, proc.stderr
    assert "ami-0123456789abcdef0 does not exist" in proc.stderr
    assert len(sandbox_client.requests(action="RunInstances")) == before


def test_a_root_volume_smaller_than_the_source_snapshot_is_bad_input_before_launch(
    sandbox_dir: Path, sandbox_client: Any, tmp_path: Path
) -> None:
    """RunInstances refuses it (InvalidBlockDeviceMapping, the sandbox as AWS) after the key pair and the
    security group exist; the preflight refuses it first: exit 2, nothing created."""
    recipe = REPO / "recipes" / f".test-small-root-{tmp_path.name}.yaml"
    text = (REPO / "recipes" / "base.yaml").read_text()
    assert "  root:\n    size: 8\n" in text
    recipe.write_text(text.replace("  root:\n    size: 8\n", "  root:\n    size: 4\n"))
    try:
        before = {a: len(sandbox_client.requests(action=a)) for a in ("RunInstances", "CreateKeyPair")}
        proc = run_invoke(["bake", str(recipe)], work_dir=tmp_path, env={"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir)})
    finally:
        recipe.unlink()
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "volumes.root.size: 4 GiB is smaller than the source image's /dev/xvda snapshot" in proc.stderr
    assert {a: len(sandbox_client.requests(action=a)) for a in before} == before


def test_source_ami_is_checked_then_used_instead_of_the_recipes_source(
    sandbox_dir: Path, sandbox_client: Any, tmp_path: Path
) -> None:
    before = sandbox_client.counts()
    proc = run_invoke(["bake", BASE, "--source-ami", "ami-nothex"], work_dir=tmp_path)
    assert proc.returncode == 2 and "--source-ami ami-nothex: 'ami-nothex' is not an AMI id" in proc.stderr
    assert sandbox_client.counts() == before  # the flag's format is checked before any AWS call
    # A well-formed id replaces base's filter: resolve-source looks up that image (it does not exist here).
    runs = len(sandbox_client.requests(action="RunInstances"))
    proc = run_invoke(["bake", BASE, "--source-ami", "ami-0123456789abcdef0"], work_dir=tmp_path,
                      env={"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir)})
    assert proc.returncode == 2, proc.stderr
    assert "ami-0123456789abcdef0 does not exist" in proc.stderr
    assert len(sandbox_client.requests(action="RunInstances")) == runs
