"""The sandbox as another AMI tool sees it: the AWS CLI (PyPI awscli, v1), in a subprocess whose environment
holds what `invoke sandbox.env` prints (AWS_ENDPOINT_URL, the sandbox's key and region), drives a small bake:
run-instances (root gp3 with a throughput, a data volume), stop-instances, create-image, copy-image to another
region, modify-image-attribute (description, launch permission, IMDS support), modify-snapshot-attribute, the describes,
deregister-image (the copy with its snapshots). What it reads back is compared with what the EC2 API reference
documents; each check names the reference's data type and field.

One flow, run once for the module (a few seconds); the tests below look at what it read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from goldsmith.sandbox.moto_fixes import BASE_IMAGE_OWNER
from tests.sandbox.helpers import aws_keys

pytestmark = pytest.mark.sandbox

EAST, WEST = "us-east-1", "us-west-2"
SHARE_WITH = "111122223333"
THROUGHPUT, IOPS = 250, 4000  # gp3 root: 125-1000 MiB/s and 3000-16000 IOPS (EbsBlockDevice)
GP3_BASELINE = (3000, 125)  # a gp3 volume given neither: 3000 IOPS, 125 MiB/s (Amazon EBS volume types)

# The AWS CLI's own entry point (awscli.clidriver, what the `aws` script runs), one command per stdin line
# (its argv, JSON), each answered by one stdout line: {"rc", "out", "err"}.
RUNNER = r"""
import contextlib, io, json, sys
from awscli.clidriver import create_clidriver
driver = create_clidriver()
for line in sys.stdin:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = driver.main(json.loads(line))
    print(json.dumps({"rc": rc, "out": out.getvalue(), "err": err.getvalue()}), flush=True)
"""


def cli_env(sandbox: Any, home: Path, region: str) -> dict[str, str]:
    """What a user has after `eval "$(invoke sandbox.env)"`, and no AWS config or credentials file."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**keep, "AWS_ENDPOINT_URL": sandbox.gateway_url, "AWS_DEFAULT_REGION": region,
            "AWS_ACCESS_KEY_ID": sandbox.credentials.access_key_id,
            "AWS_SECRET_ACCESS_KEY": sandbox.credentials.secret_access_key,
            "AWS_CONFIG_FILE": str(home / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
            "HOME": str(home)}


def aws_once(env: dict[str, str], *args: str) -> Any:
    """`aws ARGS` as its own process, exactly as a user types it."""
    proc = subprocess.run([sys.executable, "-m", "awscli", *args, "--output", "json"], env=env, text=True,
                          capture_output=True, timeout=120, check=False)
    assert proc.returncode == 0, f"aws {' '.join(args)}\n{proc.stderr}"
    return json.loads(proc.stdout)


class Cli:
    """The AWS CLI of one region (its AWS_DEFAULT_REGION): a fresh `aws` process spends about a second of CPU
    importing itself and the flow runs some 25 commands, so one CLI process runs them in turn through the
    CLI's own driver, each as `aws ARGS` would (its exit status, output and errors)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", RUNNER], env=env, text=True, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def __call__(self, *args: str) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None and self.proc.stderr is not None
        self.proc.stdin.write(json.dumps([*args, "--output", "json"]) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the AWS CLI process ended: {self.proc.stderr.read()}"
        answer = json.loads(line)
        assert answer["rc"] == 0, f"aws {' '.join(args)}: exit status {answer['rc']}\n{answer['err']}"
        return json.loads(answer["out"]) if answer["out"].strip() else None

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def json_arg(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


@pytest.fixture(scope="module")
def flow(sandbox: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The bake, through the CLI only (boto3 only cleans up what a failure left)."""
    assert sandbox.region == EAST
    home = tmp_path_factory.mktemp("aws-cli-home")
    east, west = Cli(cli_env(sandbox, home, EAST)), Cli(cli_env(sandbox, home, WEST))  # start while aws_once runs
    name = f"cli-bake-{uuid.uuid4().hex[:8]}"
    seen: dict[str, Any] = {"name": name}
    started = time.monotonic()
    try:
        base = seen["base"] = aws_once(cli_env(sandbox, home, EAST), "ec2", "describe-images", "--owners",
                                       BASE_IMAGE_OWNER, "--filters", "Name=name,Values=debian-12-sandbox-amd64-*",
                                       )["Images"][0]
        run = east("ec2", "run-instances", "--image-id", base["ImageId"], "--instance-type", "t3.micro",
                   "--count", "1", "--block-device-mappings", json_arg([
                       {"DeviceName": "/dev/xvda",
                        "Ebs": {"VolumeSize": 8, "VolumeType": "gp3", "Iops": IOPS, "Throughput": THROUGHPUT}},
                       {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 2, "VolumeType": "gp3",
                                                          "DeleteOnTermination": True}}]),
                   "--tag-specifications", f"ResourceType=instance,Tags=[{{Key=Name,Value={name}}}]")
        instance_id = seen["instance_id"] = run["Instances"][0]["InstanceId"]
        seen["volumes"] = east("ec2", "describe-volumes", "--filters",
                               f"Name=attachment.instance-id,Values={instance_id}")["Volumes"]
        seen["stop"] = east("ec2", "stop-instances", "--instance-ids", instance_id)
        east("ec2", "wait", "instance-stopped", "--instance-ids", instance_id)
        image_id = seen["image_id"] = east(
            "ec2", "create-image", "--instance-id", instance_id, "--name", name, "--description", "baked by a CLI",
            "--block-device-mappings", json_arg([{"DeviceName": "/dev/sdf", "Ebs": {"DeleteOnTermination": False}}]),
        )["ImageId"]
        east("ec2", "wait", "image-available", "--image-ids", image_id)
        copy_id = seen["copy_id"] = west("ec2", "copy-image", "--source-region", EAST, "--source-image-id", image_id,
                                         "--name", f"{name}-west")["ImageId"]
        east("ec2", "modify-image-attribute", "--image-id", image_id, "--description", "Value=released")
        east("ec2", "modify-image-attribute", "--image-id", image_id,
             "--launch-permission", f"Add=[{{UserId={SHARE_WITH}}}]")
        east("ec2", "modify-image-attribute", "--image-id", image_id, "--imds-support", "Value=v2.0")
        seen["image"] = east("ec2", "describe-images", "--image-ids", image_id)["Images"][0]
        snapshot_ids = [m["Ebs"]["SnapshotId"] for m in seen["image"]["BlockDeviceMappings"]]
        for snapshot_id in snapshot_ids:
            east("ec2", "modify-snapshot-attribute", "--snapshot-id", snapshot_id, "--attribute",
                 "createVolumePermission", "--operation-type", "add", "--user-ids", SHARE_WITH)
        seen["description"] = east("ec2", "describe-image-attribute", "--image-id", image_id,
                                   "--attribute", "description")
        seen["imds"] = east("ec2", "describe-image-attribute", "--image-id", image_id, "--attribute", "imdsSupport")
        seen["launch"] = east("ec2", "describe-image-attribute", "--image-id", image_id,
                              "--attribute", "launchPermission")
        seen["snapshots"] = east("ec2", "describe-snapshots", "--snapshot-ids", *snapshot_ids)
        seen["snapshot_permission"] = east("ec2", "describe-snapshot-attribute", "--snapshot-id", snapshot_ids[0],
                                           "--attribute", "createVolumePermission")
        west("ec2", "wait", "image-available", "--image-ids", copy_id)
        seen["copy"] = west("ec2", "describe-images", "--image-ids", copy_id)
        seen["copy_launch"] = west("ec2", "describe-image-attribute", "--image-id", copy_id,
                                   "--attribute", "launchPermission")
        copy_snapshots = [m["Ebs"]["SnapshotId"] for m in seen["copy"]["Images"][0]["BlockDeviceMappings"]]
        seen["copy_snapshots"] = west("ec2", "describe-snapshots", "--snapshot-ids", *copy_snapshots)["Snapshots"]
        seen["deregister"] = east("ec2", "deregister-image", "--image-id", image_id)
        seen["deregister_copy"] = west("ec2", "deregister-image", "--image-id", copy_id,
                                       "--delete-associated-snapshots")
        seen["after"] = east("ec2", "describe-images", "--owners", "self", "--filters", f"Name=name,Values={name}")
        seen["kept"] = east("ec2", "describe-snapshots", "--snapshot-ids", *snapshot_ids)
        seen["copy_snapshots_after"] = west("ec2", "describe-snapshots", "--owner-ids", "self",
                                            "--filters", f"Name=description,Values=*{copy_id}*")
        print(f"the AWS CLI flow took {time.monotonic() - started:.1f} s")
        yield seen
    finally:
        east.close()
        west.close()
        _clean(sandbox, seen)


def _clean(sandbox: Any, seen: dict[str, Any]) -> None:
    """Leave nothing behind for the session's other tests, whatever step failed."""
    east, west = (boto3.client("ec2", region_name=region, endpoint_url=sandbox.gateway_url,  # type: ignore[call-overload]
                               **aws_keys(sandbox)) for region in (EAST, WEST))
    for client, key in ((east, "image_id"), (west, "copy_id")):
        if not seen.get(key):
            continue
        for image in client.describe_images(Owners=["self"])["Images"]:
            if image["ImageId"] == seen[key]:
                client.deregister_image(ImageId=image["ImageId"])
        for snapshot in client.describe_snapshots(OwnerIds=["self"])["Snapshots"]:
            if seen[key] in snapshot.get("Description", ""):
                client.delete_snapshot(SnapshotId=snapshot["SnapshotId"])
    if seen.get("instance_id"):
        east.terminate_instances(InstanceIds=[seen["instance_id"]])


def by_device(mappings: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["DeviceName"]: m["Ebs"] for m in mappings}


def test_volumes_have_the_iops_and_throughput_asked_for(flow: dict[str, Any]) -> None:
    """Volume.Iops and Volume.Throughput: what the mapping asked for, else gp3's baseline."""
    got = {v["Attachments"][0]["Device"]: (v["VolumeType"], v["Iops"], v["Throughput"]) for v in flow["volumes"]}
    assert got == {"/dev/xvda": ("gp3", IOPS, THROUGHPUT), "/dev/sdf": ("gp3", *GP3_BASELINE)}


def test_stop_instances_answers_the_transition(flow: dict[str, Any]) -> None:
    """StopInstances: StoppingInstances[].PreviousState.Name running, CurrentState.Name stopping (or already
    stopped)."""
    (change,) = flow["stop"]["StoppingInstances"]
    assert change["InstanceId"] == flow["instance_id"] and change["PreviousState"]["Name"] == "running"
    assert change["CurrentState"]["Name"] in ("stopping", "stopped")


def test_create_image_records_each_volume_as_it_was(flow: dict[str, Any]) -> None:
    """Image.BlockDeviceMappings[].Ebs (EbsBlockDevice): VolumeSize, VolumeType, Iops, Throughput,
    DeleteOnTermination, Encrypted and a new SnapshotId for every volume of the instance; CreateImage's
    BlockDeviceMappings changed the data volume's DeleteOnTermination (the one field it can change)."""
    mappings = by_device(flow["image"]["BlockDeviceMappings"])
    assert set(mappings) == {"/dev/xvda", "/dev/sdf"}
    root, data = mappings["/dev/xvda"], mappings["/dev/sdf"]
    assert (root["VolumeSize"], root["VolumeType"], root["Iops"], root["Throughput"]) == (8, "gp3", IOPS, THROUGHPUT)
    assert (data["VolumeSize"], data["VolumeType"], data["Iops"], data["Throughput"]) == (2, "gp3", *GP3_BASELINE)
    assert root["DeleteOnTermination"] is True and data["DeleteOnTermination"] is False
    assert root["Encrypted"] is False and data["Encrypted"] is False
    base_snapshot = flow["base"]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    assert root["SnapshotId"] != base_snapshot and root["SnapshotId"].startswith("snap-")


def test_describe_images_shows_the_fields_aws_documents(flow: dict[str, Any]) -> None:
    """Image: Name, Description (after ModifyImageAttribute), State available, ImageType machine, OwnerId,
    Public false (shared with one account only), RootDeviceName/RootDeviceType, VirtualizationType hvm,
    Hypervisor xen, Architecture, EnaSupport, BootMode and the billing fields of the source AMI,
    ImageLocation owner/name, SourceInstanceId, SourceImageId/SourceImageRegion, CreationDate in ISO 8601."""
    image, base = flow["image"], flow["base"]
    assert (image["Name"], image["Description"], image["State"], image["ImageType"]) == (
        flow["name"], "released", "available", "machine")
    assert image["Public"] is False and image["OwnerId"] != BASE_IMAGE_OWNER
    assert (image["RootDeviceName"], image["RootDeviceType"], image["VirtualizationType"], image["Hypervisor"]) == (
        "/dev/xvda", "ebs", "hvm", "xen")
    for field in ("Architecture", "EnaSupport", "BootMode", "PlatformDetails", "UsageOperation"):
        assert image[field] == base[field], field
    assert image["ImageLocation"] == f"{image['OwnerId']}/{flow['name']}"
    assert image["SourceInstanceId"] == flow["instance_id"]
    assert (image["SourceImageId"], image["SourceImageRegion"]) == (base["ImageId"], EAST)
    assert len(image["CreationDate"]) == len("2026-01-01T00:00:00.000Z") and image["CreationDate"].endswith("Z")


def test_image_attributes_read_back_what_was_set(flow: dict[str, Any]) -> None:
    """DescribeImageAttribute: Description.Value is the new description, ImdsSupport.Value v2.0; LaunchPermissions
    lists the account (LaunchPermission.UserId). A copy gets no launch permissions (CopyImage does not copy
    them)."""
    assert flow["description"]["Description"] == {"Value": "released"}
    assert flow["imds"]["ImdsSupport"] == {"Value": "v2.0"} and flow["image"]["ImdsSupport"] == "v2.0"
    assert flow["launch"]["LaunchPermissions"] == [{"UserId": SHARE_WITH}]
    assert flow["copy_launch"]["LaunchPermissions"] == []


def test_snapshots_are_the_instance_volumes_and_shared(flow: dict[str, Any]) -> None:
    """Snapshot: State completed, Progress 100%, VolumeId of the instance's volume, VolumeSize, Encrypted false,
    the Description CreateImage gives; DescribeSnapshotAttribute: CreateVolumePermissions[].UserId."""
    volumes = {v["Attachments"][0]["Device"]: v for v in flow["volumes"]}
    snapshots = {s["SnapshotId"]: s for s in flow["snapshots"]["Snapshots"]}
    for device, ebs in by_device(flow["image"]["BlockDeviceMappings"]).items():
        snapshot = snapshots[ebs["SnapshotId"]]
        assert (snapshot["State"], snapshot["Progress"], snapshot["Encrypted"]) == ("completed", "100%", False)
        assert (snapshot["VolumeId"], snapshot["VolumeSize"]) == (volumes[device]["VolumeId"], volumes[device]["Size"])
        assert snapshot["Description"] == f"Created by CreateImage({flow['instance_id']}) for {flow['image_id']}"
        assert snapshot["OwnerId"] == flow["image"]["OwnerId"]
    assert flow["snapshot_permission"]["CreateVolumePermissions"] == [{"UserId": SHARE_WITH}]


def test_copy_image_makes_its_own_snapshots_in_the_other_region(flow: dict[str, Any]) -> None:
    """CopyImage: a new AMI in the destination Region with the same mappings (Iops, Throughput included) on new
    snapshots (Snapshot.VolumeId vol-ffffffff, an arbitrary id), its SourceImageId/SourceImageRegion, and no
    user tags unless CopyImageTags."""
    (copy,) = flow["copy"]["Images"]
    assert (copy["ImageId"], copy["Name"], copy["State"]) == (flow["copy_id"], f"{flow['name']}-west", "available")
    assert (copy["SourceImageId"], copy["SourceImageRegion"]) == (flow["image_id"], EAST)
    source, copied = by_device(flow["image"]["BlockDeviceMappings"]), by_device(copy["BlockDeviceMappings"])
    assert set(copied) == set(source)
    for device, ebs in copied.items():
        same = {k: v for k, v in ebs.items() if k != "SnapshotId"}
        assert same == {k: v for k, v in source[device].items() if k != "SnapshotId"}, device
        assert ebs["SnapshotId"] != source[device]["SnapshotId"]
    assert copy.get("Tags", []) == []
    assert {s["VolumeId"] for s in flow["copy_snapshots"]} == {"vol-ffffffff"}
    assert all(s["Description"].startswith(f"Copied for DestinationAmi {flow['copy_id']} from SourceAmi "
                                           f"{flow['image_id']}") for s in flow["copy_snapshots"])


def test_deregister_keeps_the_snapshots_unless_asked_to_delete_them(flow: dict[str, Any]) -> None:
    """DeregisterImage: Return true and the AMI is no longer listed; its snapshots stay, unless
    DeleteAssociatedSnapshots, which deletes them and answers DeleteSnapshotResults[].ReturnCode success."""
    assert flow["deregister"]["Return"] is True and not flow["deregister"].get("DeleteSnapshotResults")
    assert flow["after"]["Images"] == []
    assert len(flow["kept"]["Snapshots"]) == 2
    results = flow["deregister_copy"]["DeleteSnapshotResults"]
    assert sorted((r["SnapshotId"], r["ReturnCode"]) for r in results) == sorted(
        (s["SnapshotId"], "success") for s in flow["copy_snapshots"])
    assert flow["copy_snapshots_after"]["Snapshots"] == []
