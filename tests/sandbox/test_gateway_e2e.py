"""The whole sandbox through its front door: boto3 on the gateway, SSH into real instances, an AMI baked by
hand from snapshots, and nothing left behind by down()."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import paramiko
import pytest

from goldsmith.sandbox import manage
from goldsmith.sandbox.client import SandboxClient
from goldsmith.sandbox.runtime import instance_processes
from tests.sandbox.helpers import aws_keys, ssh_group

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def private_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[manage.SandboxInfo]:
    state_dir = tmp_path_factory.mktemp("gateway-e2e")
    info = manage.up(state_dir)
    try:
        yield info
    finally:
        manage.down(state_dir)


def ssh(client: SandboxClient, instance_id: str, key: paramiko.PKey) -> paramiko.SSHClient:
    host, port = client.endpoint(instance_id)
    session = paramiko.SSHClient()
    session.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # a fresh local instance: its key is new
    for attempt in range(20):
        try:
            session.connect(host, port, username="admin", pkey=key, timeout=10, allow_agent=False,
                            look_for_keys=False)
            return session
        except (paramiko.SSHException, OSError):
            if attempt == 19:
                raise
            time.sleep(0.25)
    raise AssertionError("unreachable")


def run(session: paramiko.SSHClient, command: str) -> str:
    _, stdout, stderr = session.exec_command(command, timeout=60)
    out = stdout.read().decode()
    status = stdout.channel.recv_exit_status()
    assert status == 0, f"{command!r} exited {status}: {stderr.read().decode()}"
    return out


def devices(ec2: Any, instance_id: str) -> dict[str, str]:
    vols = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}])
    return {v["Attachments"][0]["Device"]: v["VolumeId"] for v in vols["Volumes"]}


def test_bake_by_hand_then_down_leaves_nothing(private_sandbox: manage.SandboxInfo) -> None:
    info = private_sandbox
    ec2: Any = boto3.client("ec2", region_name=info.region, endpoint_url=info.gateway_url, **aws_keys(info))
    client = info.client()
    material = ec2.create_key_pair(KeyName="e2e", KeyType="ed25519")["KeyMaterial"]
    key = paramiko.Ed25519Key.from_private_key(io.StringIO(material))
    [base] = ec2.describe_images(Filters=[{"Name": "name", "Values": ["debian-12-sandbox-amd64-*"]}])["Images"]
    group = ssh_group(ec2, info.host_address)
    run1 = ec2.run_instances(ImageId=base["ImageId"], MinCount=1, MaxCount=1, KeyName="e2e", SecurityGroupIds=[group],
                             BlockDeviceMappings=[
        {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 10, "VolumeType": "gp3"}}])
    first = run1["Instances"][0]["InstanceId"]
    ec2.get_waiter("instance_running").wait(InstanceIds=[first], WaiterConfig={"Delay": 0.2})
    with ssh(client, first, key) as session:
        run(session, "echo 'root content' | sudo tee /baked.txt >/dev/null && sudo rm /etc/motd")
        run(session, "echo '/dev/sdf /data none bind,nofail 0 0' | sudo tee -a /etc/fstab >/dev/null"
                     " && sudo mkdir -p /data && sudo mount /data")
        run(session, "echo 'data content' | sudo tee /data/data.txt >/dev/null && sync")
    ec2.stop_instances(InstanceIds=[first])
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[first], WaiterConfig={"Delay": 0.2})
    snaps = ec2.create_snapshots(InstanceSpecification={"InstanceId": first})["Snapshots"]
    by_volume = {s["VolumeId"]: s["SnapshotId"] for s in snaps}
    by_device = {dev: by_volume[vol] for dev, vol in devices(ec2, first).items()}
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=list(by_volume.values()), WaiterConfig={"Delay": 0.2})
    image_id = ec2.register_image(
        Name="e2e-baked", RootDeviceName="/dev/xvda", Architecture="x86_64", VirtualizationType="hvm",
        EnaSupport=True, BlockDeviceMappings=[
            {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": by_device["/dev/xvda"], "VolumeSize": 8,
                                                "VolumeType": "gp3", "DeleteOnTermination": True}},
            {"DeviceName": "/dev/sdf", "Ebs": {"SnapshotId": by_device["/dev/sdf"], "VolumeSize": 10,
                                               "VolumeType": "gp3", "DeleteOnTermination": True}}])["ImageId"]
    ec2.get_waiter("image_available").wait(ImageIds=[image_id], WaiterConfig={"Delay": 0.2})
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    assert {m["DeviceName"]: (m["Ebs"]["SnapshotId"], m["Ebs"]["VolumeSize"], m["Ebs"]["VolumeType"])
            for m in image["BlockDeviceMappings"]} == {
        "/dev/xvda": (by_device["/dev/xvda"], 8, "gp3"), "/dev/sdf": (by_device["/dev/sdf"], 10, "gp3")}
    second = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, KeyName="e2e",
                               SecurityGroupIds=[group])["Instances"][0]["InstanceId"]
    ec2.get_waiter("instance_running").wait(InstanceIds=[second], WaiterConfig={"Delay": 0.2})
    with ssh(client, second, key) as session:
        assert run(session, "cat /baked.txt") == "root content\n"
        assert run(session, "test -e /etc/motd && echo present || echo gone") == "gone\n"
        assert run(session, "mountpoint -q /data || sudo mount /data; cat /data/data.txt") == "data content\n"
    assert {row["instance_id"] for row in client.instances()} >= {first, second}
    sizes = {s["snapshot_id"]: s["bytes"] for s in client.snapshots()}
    assert set(by_volume.values()) <= set(sizes)
    _down_leaves_nothing(info)


def _down_leaves_nothing(info: manage.SandboxInfo) -> None:
    manage.down(info.state_dir)
    assert manage.status(info.state_dir) is None
    for pid in (info.pid, info.moto_pid):
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    assert instance_processes(info.state_dir / "runtime") == []
    mounts = Path("/proc/mounts").read_text()
    assert str(info.state_dir) not in mounts
    assert not (info.state_dir / "runtime").exists()
    assert not (info.state_dir / "sandbox.json").exists()
    assert os.path.isdir(info.state_dir)  # only the logs stay


def _daemons_on(state_dir: Path) -> list[int]:
    """Sandbox daemons (`python -m goldsmith.sandbox serve`) whose command line names this state dir."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in cmdline and str(state_dir).encode() in cmdline and b"goldsmith.sandbox" in cmdline:
            found.append(int(entry.name))
    return found


def _interrupted_up(state_dir: Path) -> subprocess.Popen[bytes]:
    """What an `up` interrupted right after spawning leaves: a detached daemon with no sandbox.json yet."""
    proc = subprocess.Popen([sys.executable, "-m", "goldsmith.sandbox", "serve", "--state-dir", str(state_dir)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    for _ in range(600):
        if manage.daemon_pid(state_dir) == proc.pid or proc.poll() is not None:
            break
        time.sleep(0.05)
    assert manage.daemon_pid(state_dir) == proc.pid
    return proc


def test_up_after_an_interrupted_up_reuses_its_daemon(tmp_path: Path) -> None:
    state_dir = tmp_path.resolve()
    orphan = _interrupted_up(state_dir)
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            infos = list(pool.map(manage.up, [state_dir, state_dir]))
        assert {info.pid for info in infos} == {orphan.pid}
        assert _daemons_on(state_dir) == [orphan.pid]
    finally:
        manage.down(state_dir)
        orphan.wait(30)
    assert _daemons_on(state_dir) == []


def test_down_right_after_an_interrupted_up_leaves_no_process(tmp_path: Path) -> None:
    state_dir = tmp_path.resolve()
    orphan = _interrupted_up(state_dir)
    manage.down(state_dir)
    assert orphan.wait(30) is not None
    assert _daemons_on(state_dir) == []
    assert instance_processes(state_dir / "runtime") == []
    assert manage.daemon_pid(state_dir) is None


def test_a_second_daemon_on_the_same_state_dir_refuses_to_start(tmp_path: Path) -> None:
    state_dir = tmp_path.resolve()
    orphan = _interrupted_up(state_dir)
    try:
        second = subprocess.run([sys.executable, "-m", "goldsmith.sandbox", "serve", "--state-dir", str(state_dir)],
                                capture_output=True, text=True, timeout=60, check=False)
        assert second.returncode != 0
        assert f"another sandbox daemon (pid {orphan.pid}) already serves" in second.stderr
    finally:
        manage.down(state_dir)
        orphan.wait(30)
