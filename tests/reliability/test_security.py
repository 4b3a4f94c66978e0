"""Security: what a bake asks of AWS (checked on the gateway's request log) and what it leaves on disk.

- the temporary security groups never open SSH to 0.0.0.0/0 or ::/0;
- build and validation instances require IMDSv2; encrypted recipes get encrypted volumes and snapshots;
- no private key file outlives a bake, and no key, secret variable or password shows in the console,
  the JSON-lines log, the manifest, the journal or the JUnit report (success and failure);
- a host key that changes across a reboot is refused; concurrent bakes do not collide.
"""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.reliability.helpers import (
    FAST,
    REPO,
    BakeRun,
    bake,
    clean,
    ec2_client,
    files_with_private_keys,
    tagged_leftovers,
)
from tests.sandbox.helpers import aws_keys

pytestmark = pytest.mark.sandbox

RECIPES = REPO / "tests" / "reliability" / "recipes"
OPEN_TO_ALL = ("0.0.0.0/0", "::/0")


def _params(requests: list[dict[str, Any]], build_id: str) -> list[dict[str, str]]:
    """Parameters of the logged requests that belong to this build (by their build-id tag)."""
    return [r["params"] for r in requests if build_id in r["params"].values()]


@pytest.fixture(scope="module")
def logged_bake(sandbox: Any, sandbox_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One successful FAST bake with the gateway's request log of it."""
    client = sandbox.client()
    client.reset_counts()
    run = bake(FAST, tmp_path_factory.mktemp("logged"), sandbox_dir)
    assert run.returncode == 0, run.output[-3000:]
    return {"run": run, "requests": client.requests()}


def test_security_groups_allow_ssh_from_the_builder_only(logged_bake: dict[str, Any], sandbox: Any) -> None:
    rules = logged_bake["requests"]
    ingress = [r["params"] for r in rules if r["action"] == "AuthorizeSecurityGroupIngress"]
    assert len(ingress) == 2  # the build instance's group and the validation instance's group
    for params in ingress:
        cidrs = [v for k, v in params.items() if k.endswith((".CidrIp", ".CidrIpv6"))]
        assert cidrs == [f"{sandbox.host_address}/32"], params  # this host, as the instances see it
        assert not set(params.values()) & set(OPEN_TO_ALL)
        assert (params["IpPermissions.1.FromPort"], params["IpPermissions.1.ToPort"]) == ("22", "22")
    assert not any(v in OPEN_TO_ALL for r in rules for v in r["params"].values())


def test_every_instance_requires_imdsv2(logged_bake: dict[str, Any]) -> None:
    launches = [r["params"] for r in logged_bake["requests"] if r["action"] == "RunInstances"]
    names = sorted(p.get("KeyName", "") for p in launches)
    assert len(set(names)) == 2 and names[1].endswith("-validate"), names  # build + validation instance
    for params in launches:
        assert params.get("MetadataOptions.HttpTokens") == "required", params


def test_encrypted_recipe_gets_encrypted_volumes_and_snapshots(
    sandbox: Any, sandbox_dir: Path, sandbox_client: Any, tmp_path: Path
) -> None:
    kms = boto3.client("kms", region_name="us-east-1", endpoint_url=sandbox.gateway_url, **aws_keys(sandbox))
    aliases = {a["AliasName"] for a in kms.list_aliases()["Aliases"]}
    if "alias/reliability" not in aliases:
        kms.create_alias(AliasName="alias/reliability", TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
    sandbox_client.reset_counts()
    run = bake(RECIPES / "encrypted.yaml", tmp_path, sandbox_dir)
    assert run.returncode == 0, run.output[-3000:]
    (launch,) = [p for p in _params(sandbox_client.requests("RunInstances"), run.build_id)]
    devices = [k for k in launch if k.endswith(".DeviceName")]
    assert len(devices) == 2  # root and data volume, both encrypted with the recipe's key
    for key in devices:
        prefix = key.removesuffix(".DeviceName")
        assert launch[f"{prefix}.Ebs.Encrypted"] == "true", launch
        assert launch.get(f"{prefix}.Ebs.KmsKeyId"), launch
    ec2 = ec2_client(sandbox.gateway_url, "us-east-1")
    snaps = tagged_leftovers(sandbox.gateway_url, run.build_id, ["us-east-1"])["us-east-1/snapshots"]
    assert all(s["Encrypted"] for s in ec2.describe_snapshots(SnapshotIds=snaps)["Snapshots"])
    assert clean(run.build_id, run.work, sandbox_dir).returncode == 0


def _secret_bake(sandbox_dir: Path, tmp: Path, token: str, *, fail: bool) -> tuple[BakeRun, Path]:
    private_tmp = tmp / "tmpdir"  # TMPDIR of the bake: every local temporary file lands here
    private_tmp.mkdir()
    args = ["--var", f"api_token={token}", *(["--var", "fail=yes"] if fail else [])]
    run = bake(RECIPES / "secret.yaml", tmp / "work", sandbox_dir, env={"TMPDIR": str(private_tmp)}, args=args)
    return run, private_tmp


@pytest.mark.parametrize("fail", [False, True], ids=["success", "failure"])
def test_no_secret_or_private_key_in_output_logs_manifest_or_report(
    fail: bool, sandbox: Any, sandbox_dir: Path, tmp_path: Path
) -> None:
    token = f"tok-{secrets.token_hex(12)}"
    run, private_tmp = _secret_bake(sandbox_dir, tmp_path, token, fail=fail)
    assert run.returncode == (1 if fail else 0), run.output[-3000:]
    work = run.work
    logs = list((work / "logs").glob("*.jsonl"))
    manifests = list((work / "manifests").glob("*.json"))
    reports = list((work / "reports").glob("*.xml"))
    assert logs and manifests and reports, sorted(str(p) for p in work.rglob("*"))
    assert "inline token is" in run.output and "env token is" in run.output  # the provisioner did echo it
    assert "test_the_instance_and_the_suite_see_the_token" in "".join(p.read_text() for p in reports)
    if fail:
        assert "failing on purpose; the token is" in run.output  # the assertion message, token redacted
    texts = {"console": run.output, **{str(p.relative_to(work)): p.read_text(errors="replace")
                                        for p in work.rglob("*") if p.is_file()}}
    leaks = {name for name, text in texts.items() if token in text}
    assert leaks == set()
    assert not [n for n, t in texts.items() if "PRIVATE KEY" in t]
    assert files_with_private_keys(work, private_tmp) == []
    if fail:
        assert tagged_leftovers(sandbox.gateway_url, run.build_id, ["us-east-1"]) == {}
    else:
        assert clean(run.build_id, work, sandbox_dir).returncode == 0


def test_a_host_key_changed_across_a_reboot_is_refused(sandbox: Any, sandbox_dir: Path, tmp_path: Path) -> None:
    run = bake(RECIPES / "hostkey.yaml", tmp_path, sandbox_dir)
    assert run.returncode == 1, run.output[-3000:]
    assert "changed" in run.output and "refusing to connect" in run.output, run.output[-3000:]
    assert tagged_leftovers(sandbox.gateway_url, run.build_id, ["us-east-1"]) == {}


def test_two_concurrent_bakes_of_one_recipe_get_distinct_names_and_ids(
    sandbox: Any, sandbox_dir: Path, tmp_path: Path
) -> None:
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda w: bake(FAST, w, sandbox_dir), [tmp_path / "a", tmp_path / "b"]))
    assert [r.returncode for r in runs] == [0, 0], [r.output[-2000:] for r in runs]
    assert runs[0].build_id != runs[1].build_id
    ec2 = ec2_client(sandbox.gateway_url, "us-east-1")
    names = set()
    for run in runs:
        left = tagged_leftovers(sandbox.gateway_url, run.build_id)
        assert {k.split("/", 1)[1] for k in left} == {"images", "snapshots"}, left
        names |= {i["Name"] for i in ec2.describe_images(ImageIds=left["us-east-1/images"])["Images"]}
    assert len(names) == 2
    for run in runs:
        assert clean(run.build_id, run.work, sandbox_dir).returncode == 0


def test_concurrent_bakes_wanting_one_ami_name_one_wins_the_other_fails_clean(
    sandbox: Any, sandbox_dir: Path, tmp_path: Path
) -> None:
    """A name template with nothing unique per build (no timestamp, no build_id): AMI names are unique."""
    args = ["--var", f"run={secrets.token_hex(4)}"]
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda w: bake(RECIPES / "same_name.yaml", w, sandbox_dir, args=args),
                             [tmp_path / "a", tmp_path / "b"]))
    assert sorted(r.returncode for r in runs) == [0, 1], [r.output[-2000:] for r in runs]
    loser = next(r for r in runs if r.returncode == 1)
    assert "reliability-same-" in loser.output and ("Duplicate" in loser.output or "already" in loser.output)
    assert tagged_leftovers(sandbox.gateway_url, loser.build_id, ["us-east-1"]) == {}
    winner = next(r for r in runs if r.returncode == 0)
    assert clean(winner.build_id, winner.work, sandbox_dir).returncode == 0
