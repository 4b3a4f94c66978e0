"""EBS encryption by default: in accounts that turn it on, every new volume is encrypted with the
region's default key (often the AWS managed aws/ebs, which cannot be shared). A recipe without
`image.encrypt` then makes an encrypted AMI; the preflight must check it as if the key were explicit.
The sandbox follows the account setting as AWS does (tests/unit/test_moto_encryption_default.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox.helpers import REPO, build_ids, leftovers, manifest_of, run_invoke

pytestmark = pytest.mark.sandbox

BASE = REPO / "recipes" / "base.yaml"
SHARE = '''  share:
    accounts: ["111122223333", "444455556666"]
    snapshots: true
'''


@pytest.fixture
def encrypted_by_default(ec2: Any) -> Iterator[Any]:
    ec2.enable_ebs_encryption_by_default()
    yield ec2
    ec2.disable_ebs_encryption_by_default()


@pytest.fixture
def unshared(tmp_path: Path) -> Iterator[Path]:
    assert SHARE in BASE.read_text()
    path = REPO / "recipes" / f".test-unshared-{tmp_path.name}.yaml"
    path.write_text(BASE.read_text().replace(SHARE, ""))
    yield path
    path.unlink()


def test_sharing_an_image_encrypted_with_aws_ebs_by_default_is_refused_before_launch(
    encrypted_by_default: Any, sandbox_dir: Path, sandbox_client: Any, tmp_path: Path
) -> None:
    before = sandbox_client.counts().get("RunInstances", 0)
    proc = run_invoke(["bake", str(BASE)], work_dir=tmp_path, env={"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir)})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "EBS encryption by default" in proc.stderr and "AWS managed key" in proc.stderr, proc.stderr
    assert "111122223333" in proc.stderr
    assert sandbox_client.counts().get("RunInstances", 0) == before


def test_an_unshared_bake_is_encrypted_with_the_default_key_and_says_so(
    encrypted_by_default: Any, unshared: Path, sandbox_dir: Path, tmp_path: Path
) -> None:
    ec2 = encrypted_by_default
    proc = run_invoke(["bake", str(unshared)], work_dir=tmp_path, env={"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (build_id,) = build_ids(tmp_path)
    default = ec2.get_ebs_default_kms_key_id()["KmsKeyId"]
    manifest = manifest_of(tmp_path, build_id)
    assert manifest["artifacts"]["us-east-1"]["kms_key"] == default
    left = leftovers(ec2, build_id)
    snapshots = ec2.describe_snapshots(SnapshotIds=left["snapshots"])["Snapshots"]
    assert {(s["Encrypted"], s.get("KmsKeyId")) for s in snapshots} == {(True, default)}
