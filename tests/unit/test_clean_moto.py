"""`invoke clean` against a real moto server: what goes (leftovers), what stays (products), pagination.

Each test works in its own region, so `--all` in one test never sees another test's resources.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from goldsmith import commands
from goldsmith.aws.ec2 import Waits
from goldsmith.aws.reaper import find_tagged
from goldsmith.aws.session import Aws
from goldsmith.engine.journal import Entry, Journal, load_journal
from goldsmith.errors import InputError
from goldsmith.images.clean import clean

WAITS = Waits(delay=0.05, instance=30, stop=30, snapshot=30, image=30)
_n = itertools.count()


def _tags(build: str, extra: dict[str, str] | None = None) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in {"goldsmith:build-id": build, **(extra or {})}.items()]


def image(aws: Aws, region: str, build: str, **extra: str) -> tuple[str, str]:
    """An AMI as a bake registers it: from a tagged snapshot, tagged with the build id."""
    ec2 = aws.ec2(region)
    volume = ec2.create_volume(Size=1, AvailabilityZone=f"{region}a")["VolumeId"]
    snap = ec2.create_snapshot(VolumeId=volume, TagSpecifications=[
        {"ResourceType": "snapshot", "Tags": _tags(build, extra)}])["SnapshotId"]
    ec2.delete_volume(VolumeId=volume)
    image_id = ec2.register_image(
        Name=f"clean-{next(_n)}", RootDeviceName="/dev/xvda", Architecture="x86_64", VirtualizationType="hvm",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snap}}],
        TagSpecifications=[{"ResourceType": "image", "Tags": _tags(build, extra)}])["ImageId"]
    return image_id, snap


def key_pair(aws: Aws, region: str, build: str) -> str:
    name = f"goldsmith-{build}-{next(_n)}"
    aws.ec2(region).create_key_pair(KeyName=name, TagSpecifications=[{"ResourceType": "key-pair",
                                                                      "Tags": _tags(build)}])
    return name


def journal(work: Path, build: str, status: str, region: str, created: dict[str, str]) -> Journal:
    """A journal as a bake leaves it; status "killed" = "running" with a pid that no longer exists."""
    pid = 0
    if status == "killed":
        pid, status = _dead_pid(), "running"
    j = Journal(path=work / "builds" / f"{build}.json", build_id=build, status=status, pid=pid)
    j.entries = [Entry(kind=kind, region=region, id=rid, status="created") for rid, kind in created.items()]
    j.save()
    return j


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def images_left(aws: Aws, region: str, ids: list[str]) -> set[str]:
    found = aws.ec2(region).describe_images(Owners=["self"])["Images"]
    return {i["ImageId"] for i in found} & set(ids)


def snapshots_left(aws: Aws, region: str, ids: list[str]) -> set[str]:
    found = aws.ec2(region).describe_snapshots(OwnerIds=["self"])["Snapshots"]
    return {s["SnapshotId"] for s in found} & set(ids)


def keys_left(aws: Aws, region: str, names: list[str]) -> set[str]:
    return {k["KeyName"] for k in aws.ec2(region).describe_key_pairs()["KeyPairs"]} & set(names)


def run_clean(aws: Aws, work: Path, region: str, *, build_id: str | None = None, images: bool = False,
              dry_run: bool = False) -> tuple[Any, list[str]]:
    lines: list[str] = []
    result = clean(aws, regions=[region], work_dir=work, build_id=build_id, waits=WAITS, dry_run=dry_run,
                   report=lines.append, images=images)
    return result, lines


def test_all_keeps_a_succeeded_build_s_ami_and_removes_what_killed_and_failed_bakes_left(
    aws: Aws, tmp_path: Path
) -> None:
    region = "us-east-2"
    good_image, good_snap = image(aws, region, "good")
    journal(tmp_path, "good", "succeeded", region, {good_image: "image", good_snap: "snapshot"})
    killed_image, killed_snap = image(aws, region, "killed")
    killed_key = key_pair(aws, region, "killed")
    journal(tmp_path, "killed", "killed", region, {killed_image: "image", killed_snap: "snapshot"})
    failed_image, failed_snap = image(aws, region, "failed")
    journal(tmp_path, "failed", "failed", region, {failed_image: "image"})
    good_key = key_pair(aws, region, "good")  # a temporary: goes even for a succeeded build

    result, lines = run_clean(aws, tmp_path, region)
    assert result.failures == []
    assert images_left(aws, region, [good_image, killed_image, failed_image]) == {good_image}
    assert snapshots_left(aws, region, [good_snap, killed_snap, failed_snap]) == {good_snap}
    assert keys_left(aws, region, [killed_key, good_key]) == set()
    assert not any(good_image in line and "remov" in line for line in lines), lines
    # the succeeded journal is untouched: its AMI still exists
    good = json.loads((tmp_path / "builds" / "good.json").read_text())
    assert good["status"] == "succeeded" and {e["status"] for e in good["entries"]} == {"created"}
    killed = load_journal(tmp_path / "builds" / "killed.json")
    assert killed.status == "cleaned" and killed.live() == []


def test_images_of_builds_without_a_journal_need_images(aws: Aws, tmp_path: Path) -> None:
    region = "eu-west-2"
    other_image, other_snap = image(aws, region, "elsewhere")
    other_key = key_pair(aws, region, "elsewhere")
    result, lines = run_clean(aws, tmp_path, region)
    assert result.failures == []
    assert keys_left(aws, region, [other_key]) == set()  # temporaries always go
    assert images_left(aws, region, [other_image]) == {other_image}
    assert snapshots_left(aws, region, [other_snap]) == {other_snap}
    kept = [line for line in lines if line.startswith("kept: no journal says build elsewhere failed; "
                                                      "pass --images to remove them too")]
    assert len(kept) == 1 and other_image in kept[0] and other_snap in kept[0], lines
    result, _ = run_clean(aws, tmp_path, region, images=True)
    assert result.failures == []
    assert images_left(aws, region, [other_image]) == set()
    assert snapshots_left(aws, region, [other_snap]) == set()


def test_an_image_kept_by_on_failure_keep_survives_all_but_not_its_build_id(aws: Aws, tmp_path: Path) -> None:
    region = "ca-central-1"
    kept_image, kept_snap = image(aws, region, "kept", **{"goldsmith:validation": "failed"})
    journal(tmp_path, "kept", "failed", region, {kept_image: "image", kept_snap: "snapshot"})
    result, lines = run_clean(aws, tmp_path, region)
    assert result.failures == [] and result.count == 0
    assert images_left(aws, region, [kept_image]) == {kept_image}
    assert snapshots_left(aws, region, [kept_snap]) == {kept_snap}
    assert any("validate.on_failure: keep" in line and kept_image in line for line in lines), lines
    assert {e.status for e in load_journal(tmp_path / "builds" / "kept.json").entries} == {"created"}
    result, _ = run_clean(aws, tmp_path, region, build_id="kept")
    assert result.failures == []
    assert images_left(aws, region, [kept_image]) == set()
    assert snapshots_left(aws, region, [kept_snap]) == set()


def test_a_copy_killed_before_its_answer_is_found_in_its_region_by_tag(aws: Aws, tmp_path: Path) -> None:
    """SIGKILL between CopyImage and its answer: the journal holds the intent (region, no id) and the copy
    exists, tagged. `clean --build-id` searches that region too, although it is not the build region."""
    build_region, copy_region = "eu-north-1", "ap-northeast-2"
    copy_image, copy_snap = image(aws, copy_region, "cut")
    j = journal(tmp_path, "cut", "killed", build_region, {})
    j.intent("image", copy_region, "cut-copy")
    result, lines = run_clean(aws, tmp_path, build_region, build_id="cut")
    assert result.failures == [], result.failures
    assert images_left(aws, copy_region, [copy_image]) == set(), lines
    assert snapshots_left(aws, copy_region, [copy_snap]) == set(), lines


def test_build_id_of_a_succeeded_build_keeps_its_ami(aws: Aws, tmp_path: Path) -> None:
    region = "ap-south-1"
    good_image, good_snap = image(aws, region, "fine")
    journal(tmp_path, "fine", "succeeded", region, {good_image: "image", good_snap: "snapshot"})
    result, lines = run_clean(aws, tmp_path, region, build_id="fine", images=True)
    assert result.count == 0 and images_left(aws, region, [good_image]) == {good_image}
    assert any("build fine succeeded" in line for line in lines), lines


def test_an_unknown_region_is_bad_input_before_any_aws_call(tmp_path: Path) -> None:
    settings = commands.Settings(target="aws", work_dir=tmp_path)
    with pytest.raises(InputError, match=r"unknown region 'eu-centrl-1' \(did you mean 'eu-central-1'\?\)") as info:
        commands.clean(settings, build_id="b", everything=False, yes=True, regions=["us-east-1", "eu-centrl-1"],
                       report=print)
    assert info.value.exit_code == 2


def test_find_tagged_follows_every_page() -> None:
    """Two pages of each paginated Describe call: a single call would miss the second page."""
    ec2 = boto3.client("ec2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    tag = [{"Key": "goldsmith:build-id", "Value": "b"}]
    pages: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        ("describe_instances", {"Reservations": [{"Instances": [{"InstanceId": "i-1", "Tags": tag}]}]},
         {"Reservations": [{"Instances": [{"InstanceId": "i-2", "Tags": tag}]}]}),
        ("describe_images", {"Images": [{"ImageId": "ami-1", "Tags": tag}]},
         {"Images": [{"ImageId": "ami-2", "Tags": tag}]}),
        ("describe_snapshots", {"Snapshots": [{"SnapshotId": "snap-1", "Tags": tag}]},
         {"Snapshots": [{"SnapshotId": "snap-2", "Tags": tag}]}),
        ("describe_volumes", {"Volumes": [{"VolumeId": "vol-1", "Tags": tag}]},
         {"Volumes": [{"VolumeId": "vol-2", "Tags": tag}]}),
        ("describe_security_groups", {"SecurityGroups": [{"GroupId": "sg-1", "Tags": tag}]},
         {"SecurityGroups": [{"GroupId": "sg-2", "Tags": tag}]}),
    ]
    with Stubber(ec2) as stub:
        for method, first, second in pages:
            stub.add_response(method, {**first, "NextToken": "page2"})
            stub.add_response(method, second)
        stub.add_response("describe_key_pairs", {"KeyPairs": [{"KeyName": "k-1", "Tags": tag}]})
        found = find_tagged(ec2, "us-east-1", None)
        stub.assert_no_pending_responses()
    assert {k: sorted(r for r, _ in v) for k, v in found.resources.items()} == {
        "instances": ["i-1", "i-2"], "images": ["ami-1", "ami-2"], "snapshots": ["snap-1", "snap-2"],
        "volumes": ["vol-1", "vol-2"], "security-groups": ["sg-1", "sg-2"], "key-pairs": ["k-1"]}
