"""Disabled AMIs: AWS leaves them out of DescribeImages unless IncludeDisabled, and the sandbox does too
(tests/unit/test_moto_fixes_disabled.py). A disabled AMI still holds its name and its snapshots, so the bake's
name check and `invoke clean` must see it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from goldsmith.aws.tags import BUILD_ID_TAG
from tests.sandbox.helpers import run_invoke

pytestmark = pytest.mark.sandbox

RECIPE = """\
name: disabled-name
version: 1.0.0
source:
  filter: {{name: "debian-12-sandbox-amd64-*", owners: ["136693071363"]}}
build: {{instance_type: t3.micro, ssh_username: admin}}
volumes:
  root: {{size: 8, type: gp3}}
provision:
  - {{type: shell, inline: ["true"]}}
image:
  name: "{name}"
"""


def disabled_image(ec2: Any, name: str, build_id: str) -> tuple[str, str]:
    """An AMI of this account registered from a snapshot, both tagged with the build id, then disabled."""
    tags = [{"Key": BUILD_ID_TAG, "Value": build_id}]
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1, VolumeType="gp3")["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume, TagSpecifications=[
        {"ResourceType": "snapshot", "Tags": tags}])["SnapshotId"]
    ec2.delete_volume(VolumeId=volume)
    image = ec2.register_image(Name=name, RootDeviceName="/dev/xvda", VirtualizationType="hvm",
                               BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}}],
                               TagSpecifications=[{"ResourceType": "image", "Tags": tags}])["ImageId"]
    ec2.disable_image(ImageId=image)
    assert ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [name]}])["Images"] == []
    return image, snapshot


def test_a_disabled_ami_still_holds_its_name_and_the_preflight_says_so(
    ec2: Any, sandbox_dir: Path, sandbox_client: Any, tmp_path: Path
) -> None:
    name = f"disabled-name-{tmp_path.name}"
    image, _ = disabled_image(ec2, name, f"test-{tmp_path.name}")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE.format(name=name))
    launches = sandbox_client.counts().get("RunInstances", 0)
    proc = run_invoke(["bake", str(recipe)], work_dir=tmp_path / "work",
                      env={"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir)})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"already exists ({image} (disabled" in proc.stderr, proc.stderr
    assert sandbox_client.counts().get("RunInstances", 0) == launches


def test_clean_finds_and_removes_a_disabled_ami_and_its_snapshot(
    ec2: Any, sandbox_dir: Path, tmp_path: Path
) -> None:
    build_id = f"test-disabled-{tmp_path.name}"
    image, snapshot = disabled_image(ec2, f"disabled-clean-{tmp_path.name}", build_id)
    proc = run_invoke(["clean", "--build-id", build_id, "--images", "--yes"], work_dir=tmp_path / "work",
                      env={"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ec2.describe_images(ImageIds=[image], IncludeDisabled=True)["Images"] == []
    assert ec2.describe_snapshots(Filters=[{"Name": "snapshot-id", "Values": [snapshot]}])["Snapshots"] == []
