"""The sandbox's latency model tells the truth (issue 15): CreateImage costs what its snapshots cost, a
snapshot's time grows with the data changed since the volume's previous snapshot (the first one stores all
of it), a copy's time with the image's data; and the "aws" profile is AWS's seconds compressed, every ratio
kept."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from goldsmith.aws.polling import AWS_POLLS
from goldsmith.recipe.model import Build
from goldsmith.sandbox.client import SandboxClient
from goldsmith.sandbox.credentials import UNCHECKED
from goldsmith.sandbox.gateway import Gateway
from goldsmith.sandbox.latency import AWS_SECONDS, AWS_TIME_SCALE, GIB, PROFILES, LatencyModel
from goldsmith.sandbox.manage import SandboxInfo
from goldsmith.targets.sandbox import SandboxTarget
from tests.unit.test_gateway import FakeRuntime, ec2_client, gateway, launch, moto, runtime

__all__ = ["gateway", "moto", "runtime"]  # fixtures used by name

AWS = PROFILES["aws"]


def test_the_aws_profile_is_aws_seconds_compressed() -> None:
    assert AWS.time_scale == pytest.approx(AWS_TIME_SCALE)
    assert AWS.instance_start == pytest.approx(AWS_SECONDS.instance_start * AWS_TIME_SCALE)
    assert AWS.copy_per_gib / AWS.copy == pytest.approx(AWS_SECONDS.copy_per_gib / AWS_SECONDS.copy)
    assert PROFILES["instant"].snapshot_seconds(10 * GIB) == 0.0


def test_costs_grow_with_the_data() -> None:
    assert AWS.snapshot_seconds(0) == AWS.snapshot
    assert AWS.snapshot_seconds(2 * GIB) > AWS.snapshot_seconds(GIB) > AWS.snapshot_seconds(0)
    assert AWS.copy_seconds(8 * GIB) - AWS.copy_seconds(0) == pytest.approx(8 * AWS.copy_per_gib)
    # CreateImage: its snapshots (the longest; they run in parallel) and then the registration.
    snaps = [AWS.snapshot_seconds(GIB), AWS.snapshot_seconds(0)]
    assert AWS.create_image_seconds(snaps) == pytest.approx(max(snaps) + AWS.image)


def test_history_records_wall_times_and_scale() -> None:
    model = LatencyModel()
    model.configure("aws", scale=0.5)
    before = time.time()
    model.note("snap-1", "pending", 2.0, "CreateSnapshots", stored_bytes=5)
    [entry] = model.transitions(since=before)
    assert entry["seconds"] == pytest.approx(1.0) and entry["end"] - entry["start"] == pytest.approx(1.0)
    assert (entry["action"], entry["stored_bytes"]) == ("CreateSnapshots", 5)
    assert model.describe()["time_scale"] == pytest.approx(AWS_TIME_SCALE * 0.5)


def _seconds(gateway: Gateway, since: float, action: str) -> dict[str, float]:
    return {t["resource"]: t["seconds"] for t in gateway.latency.transitions(since) if t["action"] == action}


def _volumes(ec2: Any, instance_id: str) -> list[str]:
    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return [m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]]


def test_the_first_snapshot_of_a_volume_stores_all_its_data(gateway: Gateway, runtime: FakeRuntime) -> None:
    ec2, client = ec2_client(gateway), SandboxClient(gateway.url, UNCHECKED)
    client.set_latency("aws", scale=0.01)  # durations recorded, waits short
    runtime.stored, runtime.base_size = GIB // 4, 3 * GIB
    try:
        instance_id = launch(ec2)
        ec2.stop_instances(InstanceIds=[instance_id])
        t0 = time.time()
        first = ec2.create_snapshots(InstanceSpecification={"InstanceId": instance_id})["Snapshots"]
        second = ec2.create_snapshots(InstanceSpecification={"InstanceId": instance_id})["Snapshots"]
        seconds = _seconds(gateway, t0, "CreateSnapshots")
        root = {s["VolumeId"] for s in first} - set(_volumes(ec2, instance_id)[1:])
        by_volume = {s["VolumeId"]: seconds[s["SnapshotId"]] for s in first}
        again = {s["VolumeId"]: seconds[s["SnapshotId"]] for s in second}
        [root_volume] = root
        data_volume = next(v for v in by_volume if v != root_volume)
        # root from the base image (another account's snapshot): base + changes; the empty data volume: changes.
        assert by_volume[root_volume] == pytest.approx(AWS.snapshot_seconds(3 * GIB + GIB // 4) * 0.01)
        assert by_volume[data_volume] == pytest.approx(AWS.snapshot_seconds(GIB // 4) * 0.01)
        # the next snapshots store only what changed since (the fake runtime says GIB // 4 again)
        assert again[root_volume] == pytest.approx(AWS.snapshot_seconds(GIB // 4) * 0.01)
        assert again[root_volume] < by_volume[root_volume]
    finally:
        client.set_latency("instant")


def test_create_image_costs_what_its_snapshots_cost(gateway: Gateway, runtime: FakeRuntime) -> None:
    ec2, client = ec2_client(gateway), SandboxClient(gateway.url, UNCHECKED)
    client.set_latency("aws", scale=0.01)
    runtime.stored, runtime.base_size = GIB, 2 * GIB
    try:
        instance_id = launch(ec2)
        ec2.stop_instances(InstanceIds=[instance_id])
        t0 = time.time()
        image_id = ec2.create_image(InstanceId=instance_id, Name="latency-create-image")["ImageId"]
        image_seconds = _seconds(gateway, t0, "CreateImage")[image_id]
        snapshots = [s for r, s in _seconds(gateway, t0, "CreateImage").items() if r.startswith("snap-")]
        assert snapshots and image_seconds == pytest.approx(max(snapshots) + AWS.image * 0.01)
        # the same volumes through CreateSnapshots + RegisterImage would cost no more
        assert image_seconds >= AWS.snapshot_seconds(GIB) * 0.01 + AWS.image * 0.01
    finally:
        client.set_latency("instant")


def test_a_copy_takes_longer_for_a_bigger_image(gateway: Gateway, runtime: FakeRuntime) -> None:
    ec2, west, client = ec2_client(gateway), ec2_client(gateway, "us-west-2"), SandboxClient(gateway.url, UNCHECKED)
    client.set_latency("aws", scale=0.01)
    try:
        copies = {}
        for size in (GIB // 8, 4 * GIB):
            runtime.stored = size
            instance_id = launch(ec2)
            ec2.stop_instances(InstanceIds=[instance_id])
            image_id = ec2.create_image(InstanceId=instance_id, Name=f"latency-copy-{size}")["ImageId"]
            t0 = time.time()
            copy_id = west.copy_image(SourceImageId=image_id, SourceRegion="us-east-1", Name=f"copy-{size}")["ImageId"]
            copies[size] = _seconds(gateway, t0, "CopyImage")[copy_id]
        assert copies[4 * GIB] - copies[GIB // 8] == pytest.approx(
            AWS.copy_per_gib * 0.01 * (4 * GIB - GIB // 8) * 2 / GIB)  # root + data volume, each `size` more
    finally:
        client.set_latency("instant")


def test_the_sandbox_target_polls_with_the_aws_policy_scaled_by_the_profile(gateway: Gateway) -> None:
    """Not a fixed 0.1 s: an "aws" profile bake polls as a real one does, in the profile's time."""
    info = SandboxInfo(state_dir=Path("/nonexistent"), pid=0, gateway_url=gateway.url, moto_pid=0, moto_socket="",
                       region="us-east-1", started_at=0.0, credentials=UNCHECKED)
    target = SandboxTarget(_info=info)
    client = SandboxClient(gateway.url, UNCHECKED)
    try:
        client.set_latency("aws", scale=2.0)
        waits = target.waits(Build())
        assert waits.poll("copy").first == pytest.approx(AWS_POLLS.copy.first * AWS_TIME_SCALE * 2.0)
        assert waits.poll("image").least == pytest.approx(AWS_POLLS.image.least * AWS_TIME_SCALE * 2.0)
        client.set_latency("instant")
        assert target.waits(Build()).poll("snapshot").pause(1.0, 3) == pytest.approx(0.05)  # the floor
    finally:
        client.set_latency("instant")
