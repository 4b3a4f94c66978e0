"""wait() hands back the waiter's last describe, so wait_running costs no extra DescribeInstances."""

from __future__ import annotations

from typing import Any

from goldsmith.aws import ec2 as ec2ops
from goldsmith.aws.calls import wait
from goldsmith.aws.session import Aws


def _describes(client: Any) -> list[str]:
    calls: list[str] = []
    client.meta.events.register("before-call.ec2.DescribeInstances", lambda **_: calls.append("d"),
                                unique_id="test-count")
    return calls


def test_wait_running_returns_the_instance_from_the_waiters_own_describe(aws: Aws) -> None:
    ec2 = aws.ec2()
    named: list[Any] = [{"Name": "name", "Values": ["debian-12-sandbox-amd64-*"]}]
    image = ec2.describe_images(Filters=named)["Images"][0]["ImageId"]
    instance_id = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    calls = _describes(ec2)
    try:
        instance = ec2ops.wait_running(ec2, instance_id, ec2ops.Waits(delay=0.05, instance=10))
    finally:
        ec2.meta.events.unregister("before-call.ec2.DescribeInstances", unique_id="test-count")
    assert instance["InstanceId"] == instance_id
    assert instance["State"]["Name"] == "running"
    assert len(calls) == 1


def test_wait_returns_the_last_answer_and_unhooks_itself(aws: Aws) -> None:
    ec2 = aws.ec2()
    volume = ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    last = wait(ec2, "snapshot_completed", resource=snapshot, wanted="completed", timeout=5, delay=0.05,
                SnapshotIds=[snapshot])
    assert [s["SnapshotId"] for s in last["Snapshots"]] == [snapshot]
    ec2.describe_snapshots(SnapshotIds=[snapshot])  # after the wait, nothing records answers any more
    assert last["Snapshots"][0]["State"] == "completed"
