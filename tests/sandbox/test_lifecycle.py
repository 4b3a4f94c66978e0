"""Lifecycle end to end in the sandbox: channels (promote, rollback, auto-promote, source.channel), the image
inventory and retention (prune), on four bakes of one small recipe made once for the module.

The tests share those images and run in file order: prune (which retires v3) and the rollback refused
because v1 was deregistered come last.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.sandbox.helpers import aws_keys, build_ids, manifest_of, run_invoke
from tests.sandbox.lifecycle_project import make_project, set_version

# One worker runs this module in file order: each test builds on the channels the ones before it set.
pytestmark = [pytest.mark.sandbox, pytest.mark.xdist_group("lifecycle")]

REGIONS = ("us-east-1", "us-west-2")
VERSIONS = ("1.0.0", "2.0.0", "3.0.0", "4.0.0")
MUTATING = ("PutParameter", "DeleteParameter", "DeregisterImage", "DisableImage", "DeleteSnapshot", "CreateTags",
            "TerminateInstances")


@dataclass
class Lab:
    root: Path
    work: Path
    recipe: Path
    amis: dict[str, dict[str, str]]  # version -> region -> AMI id
    builds: dict[str, str]  # version -> build id

    def invoke(self, *args: str) -> Any:
        return run_invoke(list(args), work_dir=self.work)


def client(sandbox: Any, service: str, region: str = "us-east-1") -> Any:
    return boto3.client(service, region_name=region, endpoint_url=sandbox.gateway_url,  # type: ignore[call-overload]
                        **aws_keys(sandbox))


def channel(sandbox: Any, name: str, region: str) -> str | None:
    try:
        return str(client(sandbox, "ssm", region).get_parameter(Name=f"/goldsmith/lc/{name}")["Parameter"]["Value"])
    except client(sandbox, "ssm", region).exceptions.ParameterNotFound:
        return None


def history(sandbox: Any, name: str, region: str) -> list[str]:
    found = client(sandbox, "ssm", region).get_parameter_history(Name=f"/goldsmith/lc/{name}")["Parameters"]
    return [p["Value"] for p in sorted(found, key=lambda p: p["Version"])]


def mark(sandbox_client: Any) -> int:
    log = sandbox_client.requests()
    return int(log[-1]["seq"]) if log else 0


def changes_since(sandbox_client: Any, since: int) -> list[str]:
    return [r["action"] for r in sandbox_client.requests() if r["seq"] > since and r["action"] in MUTATING]


# Session scope: once per sandbox. A worker that ran this module's tests in two stretches made a module fixture
# twice, and the second lab's bakes of `lc` added to the first's channel history in the same sandbox.
@pytest.fixture(scope="session")
def lab(sandbox: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = make_project(tmp_path_factory.mktemp("lifecycle"))
    work = root / ".goldsmith"
    amis: dict[str, dict[str, str]] = {}
    builds: dict[str, str] = {}
    for version in VERSIONS:
        recipe = set_version(root, version)
        before = set(build_ids(work)) if work.exists() else set()
        run = run_invoke(["bake", str(recipe)], work_dir=work)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        (build,) = set(build_ids(work)) - before
        builds[version] = build
        amis[version] = {r: a["ami_id"] for r, a in manifest_of(work, build)["artifacts"].items()}
        assert set(amis[version]) == set(REGIONS)
    yield Lab(root, work, root / "recipes" / "lc.yaml", amis, builds)


def test_each_bake_promoted_itself_to_its_recipes_channel(sandbox: Any, lab: Lab) -> None:
    """image.channel: candidate: the step ran after the bake, in both regions; the history is the bakes'."""
    for region in REGIONS:
        assert history(sandbox, "candidate", region) == [lab.amis[v][region] for v in VERSIONS]
    steps = [s["name"] for s in manifest_of(lab.work, lab.builds["1.0.0"])["steps"]]
    assert steps[-1] == "promote-channel"


def test_promote_v1_then_v2_then_rollback_is_v1_in_every_region(sandbox: Any, lab: Lab) -> None:
    first = lab.invoke("promote", str(lab.recipe), "1.0.0", "--channel", "stable")
    assert first.returncode == 0, first.stdout + first.stderr
    second = lab.invoke("promote", str(lab.recipe), lab.amis["2.0.0"]["us-west-2"], "--channel", "stable")
    assert second.returncode == 0, second.stdout + second.stderr
    assert {r: channel(sandbox, "stable", r) for r in REGIONS} == lab.amis["2.0.0"]
    back = lab.invoke("rollback", str(lab.recipe), "--channel", "stable")
    assert back.returncode == 0, back.stdout + back.stderr
    assert {r: channel(sandbox, "stable", r) for r in REGIONS} == lab.amis["1.0.0"]
    for region in REGIONS:
        assert history(sandbox, "stable", region) == [lab.amis[v][region] for v in ("1.0.0", "2.0.0", "1.0.0")]
        assert client(sandbox, "ssm", region).get_parameter(Name="/goldsmith/lc/stable")["Parameter"]["DataType"] \
            == "aws:ec2:image"


def test_a_promote_whose_second_region_fails_changes_neither(sandbox: Any, sandbox_client: Any, lab: Lab) -> None:
    """The write to us-west-2 is refused (injected): us-east-1, already written, is put back; a channel that
    did not exist before is not left behind in us-east-1 either."""
    assert lab.invoke("promote", str(lab.recipe), "1.0.0", "--channel", "faulty").returncode == 0
    sandbox_client.set_faults([{"action": "PutParameter", "error": "AccessDenied", "rate": 1.0,
                                "region": "us-west-2"}])
    try:
        failed = lab.invoke("promote", str(lab.recipe), "2.0.0", "--channel", "faulty")
        fresh = lab.invoke("promote", str(lab.recipe), "2.0.0", "--channel", "fresh")
    finally:
        sandbox_client.clear_faults()
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "not changed anywhere" in failed.stderr and "put back us-east-1" in failed.stderr
    assert {r: channel(sandbox, "faulty", r) for r in REGIONS} == lab.amis["1.0.0"]
    assert fresh.returncode == 1
    assert {r: channel(sandbox, "fresh", r) for r in REGIONS} == {r: None for r in REGIONS}


def test_a_recipe_builds_on_what_its_source_channel_names(sandbox: Any, lab: Lab) -> None:
    """source: {recipe: lc, channel: stable}: stable is v1 (rolled back) although v4 is the newest."""
    assert channel(sandbox, "stable", "us-east-1") == lab.amis["1.0.0"]["us-east-1"]
    before = set(build_ids(lab.work))
    run = lab.invoke("bake", str(lab.root / "recipes" / "lc-top.yaml"))
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    (build,) = set(build_ids(lab.work)) - before
    image_id = manifest_of(lab.work, build)["artifacts"]["us-east-1"]["ami_id"]
    image = client(sandbox, "ec2").describe_images(ImageIds=[image_id])["Images"][0]
    tags = {t["Key"]: t["Value"] for t in image["Tags"]}
    assert tags["goldsmith:source-ami"] == lab.amis["1.0.0"]["us-east-1"]


def test_a_recipe_with_retention_retires_its_older_builds_after_each_bake(sandbox: Any, lab: Lab) -> None:
    """image.retention {keep: 1, action: deregister}: the second bake deregisters the first build's AMI."""
    made = []
    for _ in range(2):
        before = set(build_ids(lab.work))
        run = lab.invoke("bake", str(lab.root / "recipes" / "lc-keep.yaml"))
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        (build,) = set(build_ids(lab.work)) - before
        made.append(manifest_of(lab.work, build))
    assert made[1]["steps"][-1]["name"] == "apply-retention"
    mine = {i["ImageId"] for i in client(sandbox, "ec2").describe_images(Owners=["self"])["Images"]}
    first, second = (m["artifacts"]["us-east-1"]["ami_id"] for m in made)
    assert first not in mine and second in mine


def _other_recipes_ami(sandbox: Any) -> str:
    """An AMI another recipe made (registered and tagged as a bake tags it)."""
    ec2 = client(sandbox, "ec2")
    base = ec2.describe_images(Owners=["136693071363"])["Images"][0]
    tags = [{"Key": "goldsmith:recipe", "Value": "other"}, {"Key": "goldsmith:build-id", "Value": "other-1"},
            {"Key": "goldsmith:version", "Value": "1.0.0"}, {"Key": "goldsmith:validation", "Value": "passed"}]
    return str(ec2.register_image(Name=f"other-{uuid.uuid4().hex[:8]}", RootDeviceName="/dev/xvda",
                                  VirtualizationType="hvm", Architecture="x86_64",
                                  BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {
                                      "SnapshotId": base["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]}}],
                                  TagSpecifications=[{"ResourceType": "image", "Tags": tags}])["ImageId"])


def test_bad_input_exits_2_with_a_clear_message_and_changes_nothing(
    sandbox: Any, sandbox_client: Any, lab: Lab
) -> None:
    other = _other_recipes_ami(sandbox)
    recipe = str(lab.recipe)
    cases = [
        (["promote", "no-such-recipe", "1.0.0", "--channel", "stable"], "recipe 'no-such-recipe' has no AMI"),
        (["promote", recipe, "1.0.0", "--channel", "no good"], "channel 'no good'"),
        (["promote", recipe, other, "--channel", "stable"], "baked from recipe 'other', not 'lc'"),
        (["promote", recipe, "9.9.9", "--channel", "stable"], "no build of version 9.9.9"),
        (["promote", recipe, "1.0.0", "--channel", "stable", "--region", "eu-west-1"], "no copy in eu-west-1"),
        (["promote", recipe, "1.0.0", "--channel", "stable", "--region", "us-east-9"], "unknown region 'us-east-9'"),
        (["rollback", recipe, "--channel", "nope"], "has no channel 'nope'"),
        (["rollback", recipe, "--channel", "candidate", "--to", other], "baked from recipe 'other'"),
        (["prune", "--recipe", "lc", "--keep", "0"], "keep at least the newest build"),
        (["prune", "--recipe", "lc"], "--keep N"),
        (["prune", "--recipe", "lc", "--keep", "1", "--disable", "--deregister"], "exclude each other"),
        (["prune", "--recipe", "lc", "--keep", "two"], "give a whole number"),
        (["prune", "--recipe", "no-such-recipe", "--keep", "1", "--region", "us-east-1"],
         "recipe 'no-such-recipe' has no AMI"),
        (["images", "--enable", "ami-nope"], "is not an AMI id"),
    ]
    since = mark(sandbox_client)
    for args, message in cases:
        run = lab.invoke(*args)
        assert run.returncode == 2, (args, run.stdout, run.stderr)
        assert message in run.stderr, (args, run.stderr)
    assert changes_since(sandbox_client, since) == []


def test_the_inventory_lists_every_build_with_its_regions_channels_and_use(sandbox: Any, lab: Lab) -> None:
    run = lab.invoke("images", "--recipe", "lc", "--region", "us-east-1", "--region", "us-west-2", "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    rows = {r["version"]: r for r in json.loads(run.stdout)}
    assert set(rows) == set(VERSIONS)
    for version, row in rows.items():
        assert row["images"] == lab.amis[version]
        assert (row["recipe"], row["build_id"], row["validation"]) == ("lc", lab.builds[version], "passed")
        assert row["snapshot_gib"] >= 16 and row["disabled"] == [] and row["last_launched"]  # validation launched it
    assert {"lc/stable (us-east-1)", "lc/stable (us-west-2)"} <= set(rows["1.0.0"]["channels"])
    assert "lc/candidate (us-east-1)" in rows["4.0.0"]["channels"]
    text = lab.invoke("images", "--recipe", "lc", "--region", "us-east-1")
    assert text.returncode == 0 and lab.builds["4.0.0"] in text.stdout and "lc/candidate" in text.stdout


def test_prune_keeps_what_is_in_use_and_retires_the_rest_in_every_region(
    sandbox: Any, sandbox_client: Any, lab: Lab
) -> None:
    """--keep 1: v4 is the newest, stable names v1, an instance runs v2; v3 goes, AMI and snapshots, in both
    regions. Without --yes exactly that plan is printed and nothing changes."""
    ec2 = client(sandbox, "ec2")
    instance = ec2.run_instances(ImageId=lab.amis["2.0.0"]["us-east-1"], MinCount=1, MaxCount=1,
                                 InstanceType="t3.micro")["Instances"][0]["InstanceId"]
    args = ["prune", "--recipe", "lc", "--keep", "1", "--deregister", "--region", "us-east-1", "--region",
            "us-west-2"]
    try:
        since = mark(sandbox_client)
        plan = lab.invoke(*args)
        assert plan.returncode == 0, plan.stdout + plan.stderr
        assert changes_since(sandbox_client, since) == []
        lines = {line.split()[2]: line for line in plan.stdout.splitlines() if line.startswith(("keep", "RETIRE"))}
        assert set(lines) == set(VERSIONS)
        assert lines["3.0.0"].startswith("RETIRE") and "not among the 1 newest" in lines["3.0.0"]
        assert lines["4.0.0"].startswith("keep") and "among the 1 newest" in lines["4.0.0"]
        assert lines["1.0.0"].startswith("keep") and "channel lc/" in lines["1.0.0"]
        assert lines["2.0.0"].startswith("keep") and f"instance {instance}" in lines["2.0.0"]
        assert "1 builds would be retired" in plan.stdout
        done = lab.invoke(*args, "--yes")
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        ec2.terminate_instances(InstanceIds=[instance])
    for region in REGIONS:
        ec2 = client(sandbox, "ec2", region)
        mine = {i["ImageId"]: i for i in ec2.describe_images(Owners=["self"])["Images"]}
        assert lab.amis["3.0.0"][region] not in mine
        assert all(lab.amis[v][region] in mine for v in ("1.0.0", "2.0.0", "4.0.0"))
        snaps = ec2.describe_snapshots(OwnerIds=["self"], Filters=[
            {"Name": "tag:goldsmith:build-id", "Values": [lab.builds["3.0.0"]]}])["Snapshots"]
        assert snaps == []


def test_rollback_to_a_deregistered_image_is_refused_and_changes_nothing(sandbox: Any, lab: Lab) -> None:
    assert lab.invoke("promote", str(lab.recipe), "1.0.0", "--channel", "old").returncode == 0
    assert lab.invoke("promote", str(lab.recipe), "2.0.0", "--channel", "old").returncode == 0
    client(sandbox, "ec2").deregister_image(ImageId=lab.amis["1.0.0"]["us-east-1"])
    run = lab.invoke("rollback", str(lab.recipe), "--channel", "old")
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"{lab.amis['1.0.0']['us-east-1']} (us-east-1) has been deregistered" in run.stderr
    assert "nothing was changed" in run.stderr
    assert {r: channel(sandbox, "old", r) for r in REGIONS} == lab.amis["2.0.0"]
