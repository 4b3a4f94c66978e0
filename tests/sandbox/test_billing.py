"""Billing codes, TPM and UEFI data of the source survive a bake, or the bake refuses the source up front.

The sandbox plays AWS here (goldsmith/sandbox/moto_fixes_billing.py): RegisterImage from snapshots loses a
billing code, so a source billed like RHEL must be refused at preflight, before anything is launched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from goldsmith.sandbox.moto_fixes import BASE_IMAGE_OWNER
from tests.sandbox.helpers import build_ids, leftovers, manifest_of, run_invoke

pytestmark = pytest.mark.sandbox

CREATING = ("RunInstances", "CreateKeyPair", "CreateSecurityGroup", "CreateSnapshots", "RegisterImage")


def recipe(project: Path, name: str, source: dict[str, Any]) -> Path:
    project.mkdir(parents=True)
    (project / "invoke.yaml").write_text("{}\n")
    data = {
        "name": name,
        "version": "1.0.0",
        "source": source,
        "build": {"ssh_username": "admin"},
        "provision": [{"type": "shell", "inline": ["echo baked | sudo tee /etc/baked"]}],
        "image": {"name": name + "-{{ timestamp }}-{{ build_id[-6:] }}"},
    }
    path = project / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def last_seq(client: Any) -> int:
    log = client.requests()
    return int(log[-1]["seq"]) if log else 0


def requests_since(client: Any, seq: int, action: str) -> list[dict[str, Any]]:
    return [r for r in client.requests(action) if int(r["seq"]) > seq]


def test_a_source_billed_like_rhel_is_refused_at_preflight_before_anything_is_launched(
    sandbox: Any, sandbox_dir: Path, sandbox_client: Any, ec2: Any, tmp_path: Path
) -> None:
    path = recipe(tmp_path / "project", "fromrhel",
                  {"filter": {"name": "rhel-9-sandbox-amd64-*", "owners": [BASE_IMAGE_OWNER]}})
    seq = last_seq(sandbox_client)
    work = tmp_path / "work"
    proc = run_invoke(["bake", str(path)], work_dir=work, env={"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir)})
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output[-3000:]
    assert "Red Hat Enterprise Linux" in output and "RunInstances:0010" in output, output[-3000:]
    assert "billing code" in output and "CreateImage" in output and "does not support" in output, output[-3000:]
    assert "Traceback" not in output
    made = {action: requests_since(sandbox_client, seq, action) for action in CREATING}
    assert all(calls == [] for calls in made.values()), made
    for build_id in build_ids(work):
        assert leftovers(ec2, build_id) == {}


def test_a_bake_keeps_the_source_billing_and_carries_tpm_support_and_uefi_data(
    sandbox: Any, sandbox_dir: Path, sandbox_client: Any, ec2: Any, tmp_path: Path
) -> None:
    base = ec2.describe_images(Owners=[BASE_IMAGE_OWNER],
                               Filters=[{"Name": "name", "Values": ["debian-12-sandbox-amd64-*"]}])["Images"][0]
    root = base["BlockDeviceMappings"][0]
    source_id = ec2.register_image(
        Name=f"tpm-source-{tmp_path.name}"[:120], RootDeviceName=base["RootDeviceName"], Architecture="x86_64",
        VirtualizationType="hvm", EnaSupport=True, BootMode="uefi", TpmSupport="v2.0",
        BlockDeviceMappings=[{"DeviceName": root["DeviceName"],
                              "Ebs": {"SnapshotId": root["Ebs"]["SnapshotId"], "VolumeType": "gp3"}}],
    )["ImageId"]
    source = ec2.describe_images(ImageIds=[source_id])["Images"][0]
    assert source["TpmSupport"] == "v2.0" and source["PlatformDetails"] == "Linux/UNIX"

    path = recipe(tmp_path / "project", "tpmbake", {"id": source_id})
    seq = last_seq(sandbox_client)
    work = tmp_path / "work"
    proc = run_invoke(["bake", str(path)], work_dir=work, env={"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir)})
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    (build_id,) = build_ids(work)
    image_id = manifest_of(work, build_id)["artifacts"]["us-east-1"]["ami_id"]
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    assert (image["PlatformDetails"], image["UsageOperation"]) == (source["PlatformDetails"],
                                                                  source["UsageOperation"])
    assert image["TpmSupport"] == "v2.0" and image["BootMode"] == "uefi"

    (uefi_call,) = requests_since(sandbox_client, seq, "GetInstanceUefiData")
    (register,) = requests_since(sandbox_client, seq, "RegisterImage")
    assert register["params"]["TpmSupport"] == "v2.0"
    stored = ec2.describe_image_attribute(ImageId=image_id, Attribute="uefiData")["UefiData"]["Value"]
    assert stored and register["params"]["UefiData"] == stored  # the build instance's variable store
    assert uefi_call["params"]["InstanceId"] not in {i["InstanceId"] for r in ec2.describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["running", "stopped"]}])["Reservations"]
        for i in r["Instances"]}  # the build instance, gone with the bake
    assert set(leftovers(ec2, build_id)) == {"images", "snapshots"}
