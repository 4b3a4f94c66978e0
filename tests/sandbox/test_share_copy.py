"""Sharing, encryption and region copies end to end in the sandbox: checked first, all or nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from goldsmith.aws.reaper import find_tagged
from tests.sandbox.helpers import REPO, aws_keys, build_ids, deprecated_a_moment_ago, manifest_of, run_invoke

pytestmark = pytest.mark.sandbox

SHARED = REPO / "tests" / "fixtures" / "good" / "shared.yaml"
REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
ACCOUNTS = ("111122223333", "444455556666")
ORG = "arn:aws:organizations::123456789012:organization/o-abcde12345"
OU = "arn:aws:organizations::123456789012:ou/o-abcde12345/ou-ab12-cdef3456"
MUTATING = ("ModifyImageAttribute", "ModifySnapshotAttribute", "RunInstances", "CopyImage", "CreateKeyPair")


def client(sandbox: Any, service: str, region: str) -> Any:
    return boto3.client(service, region_name=region, endpoint_url=sandbox.gateway_url,  # type: ignore[call-overload]
                        **aws_keys(sandbox))


def since(sandbox_client: Any, mark: int, action: str) -> list[dict[str, Any]]:
    return [r for r in sandbox_client.requests(action) if r["seq"] > mark]


def mark_of(sandbox_client: Any) -> int:
    log = sandbox_client.requests()
    return int(log[-1]["seq"]) if log else 0


def bake(recipe: Path, sandbox_dir: Path, work: Path) -> Any:
    return run_invoke(["bake", str(recipe)], work_dir=work, env={"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir)})


def copies_left(sandbox: Any, work: Path, build_id: str) -> list[str]:
    """Copies the journal recorded, and snapshots made for them, that still exist (found by the journal,
    not by tags: a killed bake may have tagged nothing)."""
    journal = json.loads((work / "builds" / f"{build_id}.json").read_text())
    copies = [(e["region"], e["id"]) for e in journal["entries"]
              if e["kind"] == "image" and e["region"] != "us-east-1" and e["id"]]
    assert copies, "the journal recorded no copy"
    left = []
    for region, image_id in copies:
        ec2 = client(sandbox, "ec2", region)
        left += [i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"] if i["ImageId"] == image_id]
        left += [s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
                 if image_id in s.get("Description", "")]
    return left


def variant(tmp_path: Path, **image: Any) -> Path:
    """shared.yaml with some image fields replaced (None removes one), written next to the test."""
    data = yaml.safe_load(SHARED.read_text())
    for key, value in image.items():
        if value is None:
            data["image"].pop(key, None)
        else:
            data["image"][key] = value
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def shared_bake(sandbox: Any, sandbox_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("work-shared")
    proc = bake(SHARED, sandbox_dir, work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (build_id,) = build_ids(work)
    return {"work": work, "build_id": build_id, "manifest": manifest_of(work, build_id)}


def test_every_region_has_the_same_name_tags_permissions_and_deprecation(shared_bake: dict[str, Any],
                                                                         sandbox: Any) -> None:
    manifest = shared_bake["manifest"]
    assert set(manifest["artifacts"]) == set(REGIONS)
    wanted_launch = [{"UserId": a} for a in ACCOUNTS] + [{"OrganizationArn": ORG}, {"OrganizationalUnitArn": OU}]
    names, tag_sets = set(), []
    for region in REGIONS:
        ec2 = client(sandbox, "ec2", region)
        artifact = manifest["artifacts"][region]
        image = ec2.describe_images(ImageIds=[artifact["ami_id"]])["Images"][0]
        names.add(image["Name"])
        tag_sets.append({t["Key"]: t["Value"] for t in image["Tags"]})
        perms = ec2.describe_image_attribute(ImageId=image["ImageId"], Attribute="launchPermission")
        assert sorted(map(json.dumps, perms["LaunchPermissions"])) == sorted(map(json.dumps, wanted_launch))
        assert set(artifact["snapshots"]) == {"/dev/xvda", "/dev/sdf"}
        for snapshot_id in artifact["snapshots"].values():
            snapshot = ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]
            snapshot_tags = {t["Key"]: t["Value"] for t in snapshot.get("Tags", [])}
            assert snapshot_tags.get("goldsmith:build-id") == shared_bake["build_id"], (region, snapshot_tags)
            attr = ec2.describe_snapshot_attribute(SnapshotId=snapshot_id, Attribute="createVolumePermission")
            assert sorted(p["UserId"] for p in attr["CreateVolumePermissions"]) == sorted(ACCOUNTS)
        deprecated = datetime.fromisoformat(image["DeprecationTime"].replace("Z", "+00:00"))
        assert abs(deprecated - (datetime.now(UTC) + timedelta(days=30))) < timedelta(hours=1)
        recorded = datetime.fromisoformat(artifact["deprecation_time"].replace("Z", "+00:00"))
        assert abs(recorded - deprecated) < timedelta(minutes=2)
    assert len(names) == 1
    assert all(tags == tag_sets[0] for tags in tag_sets)
    assert tag_sets[0]["Role"] == "shared" and tag_sets[0]["goldsmith:build-id"] == shared_bake["build_id"]
    assert manifest["outcome"] == "succeeded" and len(manifest["launch_permissions"]) == 4


def test_a_failed_second_copy_leaves_nothing_anywhere(sandbox: Any, sandbox_dir: Path, sandbox_client: Any,
                                                       tmp_path: Path) -> None:
    mark = mark_of(sandbox_client)
    # The 2nd CopyImage is refused for good (a 4xx botocore does not retry).
    sandbox_client.set_faults([{"action": "CopyImage", "error": "ResourceLimitExceeded", "nth": 2}])
    try:
        proc = bake(SHARED, sandbox_dir, tmp_path)
    finally:
        sandbox_client.clear_faults()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (build_id,) = build_ids(tmp_path)
    assert len([r for r in since(sandbox_client, mark, "CopyImage") if not r["fault"]]) >= 1  # one copy was made
    for region in REGIONS:
        found = find_tagged(client(sandbox, "ec2", region), region, build_id)
        assert {k: v for k, v in found.resources.items() if v} == {}, region
    assert copies_left(sandbox, tmp_path, build_id) == []
    assert since(sandbox_client, mark, "ModifyImageAttribute") == []  # no launch permission, anywhere
    assert since(sandbox_client, mark, "ModifySnapshotAttribute") == []
    manifest = manifest_of(tmp_path, build_id)
    assert manifest["outcome"] == "failed" and "CopyImage" in manifest["error"] and manifest["artifacts"] == {}


def test_cli_refuses_all_accounts_before_any_change(shared_bake: dict[str, Any], sandbox_dir: Path,
                                                     sandbox_client: Any, tmp_path: Path) -> None:
    image_id = shared_bake["manifest"]["artifacts"]["us-east-1"]["ami_id"]
    mark = mark_of(sandbox_client)
    env = {"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir)}
    for args in (["--account", "all"], ["--org", "all"], ["--account", "111122223333", "--account", "*"]):
        proc = run_invoke(["share", image_id, *args], work_dir=tmp_path, env=env)
        assert proc.returncode == 2 and "--public" in proc.stderr, proc.stderr
    for action in MUTATING:
        assert since(sandbox_client, mark, action) == []


def test_cli_share_is_idempotent_and_removable(shared_bake: dict[str, Any], sandbox: Any, sandbox_dir: Path,
                                               tmp_path: Path) -> None:
    image_id = shared_bake["manifest"]["artifacts"]["us-east-1"]["ami_id"]
    env = {"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir)}
    extra = ["share", image_id, "--account", "777788889999", "--snapshots"]
    first = run_invoke(extra, work_dir=tmp_path, env=env)
    assert first.returncode == 0 and "granted: 777788889999" in first.stdout, first.stdout + first.stderr
    again = run_invoke(extra, work_dir=tmp_path, env=env)
    assert again.returncode == 0 and "nothing to change" in again.stdout
    gone = run_invoke([*extra, "--remove"], work_dir=tmp_path, env=env)
    assert gone.returncode == 0 and "removed: 777788889999" in gone.stdout
    ec2 = client(sandbox, "ec2", "us-east-1")
    perms = ec2.describe_image_attribute(ImageId=image_id, Attribute="launchPermission")["LaunchPermissions"]
    assert {"UserId": "777788889999"} not in perms and {"UserId": ACCOUNTS[0]} in perms


# KMS preflight: four clear errors, exit 2, nothing launched ------------------------------------------------
@pytest.fixture
def kms_keys(sandbox: Any) -> Iterator[dict[str, str]]:
    kms = client(sandbox, "kms", "us-east-1")
    disabled = kms.create_key(Description="disabled")["KeyMetadata"]
    kms.disable_key(KeyId=disabled["KeyId"])
    no_consumer = kms.create_key(Description="owner only")["KeyMetadata"]["Arn"]
    yield {"missing": f"alias/goldsmith-missing-{uuid.uuid4().hex[:8]}", "disabled": disabled["Arn"],
           "aws/ebs": "alias/aws/ebs", "policy": no_consumer}


@pytest.mark.parametrize(("case", "message"), [
    ("missing", "does not exist in us-east-1"),
    ("disabled", "is Disabled, not Enabled"),
    ("aws/ebs", "AWS managed key"),
    ("policy", "111122223333 (missing kms:Decrypt, kms:CreateGrant, kms:DescribeKey)"),
])
def test_kms_preflight(case: str, message: str, kms_keys: dict[str, str], sandbox_dir: Path,
                       sandbox_client: Any, tmp_path: Path) -> None:
    recipe = variant(tmp_path, regions=None, encrypt={"kms_key": kms_keys[case]})
    mark = mark_of(sandbox_client)
    proc = bake(recipe, sandbox_dir, tmp_path / "work")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and "image.encrypt.kms_key" in proc.stderr, proc.stderr
    assert kms_keys[case] in proc.stderr
    for action in MUTATING:
        assert since(sandbox_client, mark, action) == [], action


def test_encrypted_bake_uses_each_regions_key(sandbox: Any, sandbox_dir: Path, tmp_path: Path) -> None:
    """Build volumes are encrypted at launch, so are the snapshots and the AMI; each copy gets its region's key."""
    keys = {}
    for region in ("us-east-1", "us-west-2"):
        policy = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*",
             "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": [f"arn:aws:iam::{a}:root" for a in ACCOUNTS]},
             "Action": ["kms:Decrypt", "kms:CreateGrant", "kms:DescribeKey"], "Resource": "*"},
            {"Effect": "Allow", "Principal": "*", "Action": ["kms:Decrypt", "kms:CreateGrant", "kms:DescribeKey"],
             "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abcde12345"}}}]}
        keys[region] = client(sandbox, "kms", region).create_key(Policy=json.dumps(policy))["KeyMetadata"]["Arn"]
    recipe = variant(tmp_path, regions=["us-west-2"],
                     encrypt={"kms_key": keys["us-east-1"], "regions": {"us-west-2": keys["us-west-2"]}})
    proc = bake(recipe, sandbox_dir, tmp_path / "work")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (build_id,) = build_ids(tmp_path / "work")
    manifest = manifest_of(tmp_path / "work", build_id)
    for region, key in keys.items():
        assert manifest["artifacts"][region]["kms_key"] == key
        ec2 = client(sandbox, "ec2", region)
        for snapshot_id in manifest["artifacts"][region]["snapshots"].values():
            snap = ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]
            assert snap["Encrypted"] and snap["KmsKeyId"] == key, (region, snap)


def test_ctrl_c_while_copies_are_pending_exits_130_and_leaves_nothing(
        sandbox: Any, sandbox_dir: Path, sandbox_client: Any, tmp_path: Path) -> None:
    """A real SIGINT while both copies are still pending (the sandbox's AWS-like latency keeps them so)."""
    mark = mark_of(sandbox_client)
    sandbox_client.set_latency("aws", scale=2.0)  # copies pending 4 s: the SIGINT comes ~0.6 s after both started
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "invoke", "bake", str(SHARED)], cwd=REPO, text=True, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, env={**os.environ, "INVOKE_GOLDSMITH_WORK_DIR": str(tmp_path),
                                           "INVOKE_GOLDSMITH_PLAIN": "true", "GOLDSMITH_SANDBOX_DIR": str(sandbox_dir)})
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if len(since(sandbox_client, mark, "CopyImage")) >= 2:
                break
            time.sleep(0.1)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=300)
    finally:
        sandbox_client.set_latency("instant")
    assert proc.returncode == 130, out
    assert len(since(sandbox_client, mark, "CopyImage")) == 2
    (build_id,) = build_ids(tmp_path)
    for region in REGIONS:
        found = find_tagged(client(sandbox, "ec2", region), region, build_id)
        assert {k: v for k, v in found.resources.items() if v} == {}, region
    assert copies_left(sandbox, tmp_path, build_id) == []
    assert since(sandbox_client, mark, "ModifyImageAttribute") == []
    assert manifest_of(tmp_path, build_id)["outcome"] == "interrupted"


def test_cli_copy_repeats_the_publishing_and_is_idempotent(shared_bake: dict[str, Any], sandbox: Any,
                                                           sandbox_dir: Path, tmp_path: Path) -> None:
    image_id = shared_bake["manifest"]["artifacts"]["us-east-1"]["ami_id"]
    env = {"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir)}
    first = run_invoke(["copy", image_id, "--region", "ap-south-1"], work_dir=tmp_path, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    ec2 = client(sandbox, "ec2", "ap-south-1")
    source = client(sandbox, "ec2", "us-east-1").describe_images(ImageIds=[image_id])["Images"][0]
    (copy,) = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [source["Name"]]}])["Images"]
    assert sorted(copy["Tags"], key=str) == sorted(source["Tags"], key=str)
    assert copy["DeprecationTime"] == source["DeprecationTime"]
    perms = ec2.describe_image_attribute(ImageId=copy["ImageId"], Attribute="launchPermission")["LaunchPermissions"]
    assert len(perms) == 4 and {"UserId": ACCOUNTS[0]} in perms
    again = run_invoke(["copy", image_id, "--region", "ap-south-1"], work_dir=tmp_path, env=env)
    assert again.returncode == 0 and f"ap-south-1:{copy['ImageId']} (existing)" in again.stdout


def test_cli_copy_of_an_image_whose_deprecation_has_passed_warns_and_succeeds(sandbox: Any, sandbox_dir: Path,
                                                                            tmp_path: Path) -> None:
    """AWS refuses a DeprecateAt in the past (and so does the sandbox): `invoke copy` used to re-apply the
    source's passed deprecation time, fail, and remove every copy. It now leaves it out and warns."""
    east, west = client(sandbox, "ec2", "us-east-1"), client(sandbox, "ec2", "us-west-2")
    flt = [{"Name": "name", "Values": ["debian-12-sandbox-amd64-*"]}]
    (base,) = east.describe_images(Owners=["136693071363"], Filters=flt)["Images"]
    root = base["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    name = f"deprecated-{uuid.uuid4().hex[:8]}"
    mapping = [{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": root}}]
    image_id = east.register_image(Name=name, RootDeviceName="/dev/xvda", Architecture="x86_64",
                                   VirtualizationType="hvm", EnaSupport=True, BlockDeviceMappings=mapping)["ImageId"]
    deprecated_a_moment_ago(east, image_id)
    proc = run_invoke(["copy", image_id, "--region", "us-west-2"], work_dir=tmp_path,
                      env={"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (copy,) = west.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [name]}])["Images"]
    assert "DeprecationTime" not in copy
    assert f"warning: us-west-2: {copy['ImageId']} is not deprecated: the source's deprecation time" in proc.stdout
    west.deregister_image(ImageId=copy["ImageId"])
    east.deregister_image(ImageId=image_id)


def test_copies_of_a_validated_image_carry_its_validation_tag(sandbox: Any, sandbox_dir: Path, sandbox_client: Any,
                                                              tmp_path: Path) -> None:
    """Region copies take the tags of the description register-image waited for, kept current by
    validate-image: the copy says goldsmith:validation=passed too, and no extra DescribeImages is spent."""
    project = tmp_path / "project"
    (project / "suites").mkdir(parents=True)
    (project / "invoke.yaml").write_text("{}\n")  # marks the project root: recipe paths are relative to it
    (project / "suites" / "test_mark.py").write_text(
        "def test_the_image_is_marked(host):\n"
        "    assert host.file('/etc/goldsmith-shared').contains('shared by goldsmith')\n")
    data = yaml.safe_load(SHARED.read_text())
    data["image"]["regions"] = ["us-west-2"]
    data["image"].pop("share")
    data["validate"] = {"suites": ["suites/test_mark.py"]}
    recipe = project / "validated.yaml"
    recipe.write_text(yaml.safe_dump(data))
    mark = mark_of(sandbox_client)
    proc = bake(recipe, sandbox_dir, tmp_path / "work")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (build_id,) = build_ids(tmp_path / "work")
    artifacts = manifest_of(tmp_path / "work", build_id)["artifacts"]
    home = artifacts["us-east-1"]["ami_id"]
    described = [r for r in since(sandbox_client, mark, "DescribeImages")
                 if r.get("region") == "us-east-1" and home in json.dumps(r)]
    validation_launch = since(sandbox_client, mark, "RunInstances")[-1]["seq"]
    assert described and all(r["seq"] < validation_launch for r in described), described  # the wait's polls only
    for region in ("us-east-1", "us-west-2"):
        image = client(sandbox, "ec2", region).describe_images(ImageIds=[artifacts[region]["ami_id"]])["Images"][0]
        tags = {t["Key"]: t["Value"] for t in image["Tags"]}
        assert tags["goldsmith:validation"] == "passed", (region, tags)
        assert tags["goldsmith:build-id"] == build_id


def test_a_failed_validation_removes_the_copies_started_beside_it(sandbox: Any, sandbox_dir: Path,
                                                                  sandbox_client: Any, tmp_path: Path) -> None:
    """Copies start as soon as the image is available, before the validation instance is launched (issue 15);
    when validation then fails they go with everything else, finished or not, and nothing was shared."""
    project = tmp_path / "project"
    (project / "suites").mkdir(parents=True)
    (project / "invoke.yaml").write_text("{}\n")
    (project / "suites" / "test_fails.py").write_text("def test_fails(host):\n    assert host.file('/nope').exists\n")
    data = yaml.safe_load(SHARED.read_text())
    data["image"]["regions"] = ["us-west-2"]
    data["validate"] = {"suites": ["suites/test_fails.py"]}
    recipe = project / "failing.yaml"
    recipe.write_text(yaml.safe_dump(data))
    mark = mark_of(sandbox_client)
    sandbox_client.set_latency("aws", scale=1.0)  # a copy takes seconds: it is pending while the suite runs
    try:
        proc = bake(recipe, sandbox_dir, tmp_path / "work")
    finally:
        sandbox_client.set_latency("instant")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (build_id,) = build_ids(tmp_path / "work")
    (copy_call,) = since(sandbox_client, mark, "CopyImage")
    validation_launch = since(sandbox_client, mark, "RunInstances")[-1]
    assert copy_call["seq"] < validation_launch["seq"]  # started beside the validation, not after it
    for region in ("us-east-1", "us-west-2"):
        found = find_tagged(client(sandbox, "ec2", region), region, build_id)
        assert {k: v for k, v in found.resources.items() if v} == {}, region
    assert copies_left(sandbox, tmp_path / "work", build_id) == []
    assert since(sandbox_client, mark, "ModifyImageAttribute") == []
    assert since(sandbox_client, mark, "ModifySnapshotAttribute") == []
    # Where the time went: every wait in the JSON log, the accounting in the manifest.
    records = [json.loads(line) for line in (tmp_path / "work" / "logs" / f"{build_id}.jsonl").read_text().splitlines()]
    kinds = {r["kind"] for r in records if r["event"] == "wait"}
    assert {"instance_running", "instance_stopped", "snapshot", "image"} <= kinds, kinds
    spent = manifest_of(tmp_path / "work", build_id)["time"]
    assert 0 < spent["aws_waits"] < spent["wall"] and spent["own_work"] > 0
