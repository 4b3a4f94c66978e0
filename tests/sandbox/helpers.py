"""Helpers for end-to-end tests: run bakes, look for leftovers, reach instances."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from goldsmith.aws.reaper import find_tagged
from goldsmith.sandbox.credentials import Credentials

REPO = Path(__file__).resolve().parents[2]


def sandbox_credentials() -> Credentials:
    """The key of the session's sandbox (the one GOLDSMITH_SANDBOX_DIR names: tests/conftest.py sets it)."""
    from goldsmith.sandbox import credentials, manage

    return credentials.read(manage.default_state_dir())


def sandbox_host_address() -> str:
    """This host's address on the session's sandbox network: where instances see its connections from."""
    from goldsmith.sandbox import manage

    info = manage.read_info(manage.default_state_dir())
    assert info is not None, "the session's sandbox is not up"
    return info.host_address


def aws_keys(sandbox: Any = None) -> dict[str, str]:
    """boto3.client() arguments signing with the sandbox's key (the session's when `sandbox` is None)."""
    c = sandbox.credentials if sandbox is not None else sandbox_credentials()
    return {"aws_access_key_id": c.access_key_id, "aws_secret_access_key": c.secret_access_key}


def leftovers(ec2: Any, build_id: str) -> dict[str, list[str]]:
    """Everything still tagged with the build id: instances (not terminated), volumes, keys, groups, ..."""
    found = find_tagged(ec2, "us-east-1", build_id)
    return {kind: [rid for rid, _ in items] for kind, items in found.resources.items() if items}


def run_invoke(args: list[str], *, work_dir: Path, env: dict[str, str] | None = None,
               timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`invoke ARGS` in the repo, as a user would run it, with its own work dir."""
    full_env = {**os.environ, "INVOKE_GOLDSMITH_WORK_DIR": str(work_dir), "INVOKE_GOLDSMITH_PLAIN": "true",
                **(env or {})}
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=REPO, env=full_env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def build_ids(work_dir: Path) -> list[str]:
    return sorted(p.stem for p in (work_dir / "builds").glob("*.json"))


def manifest_of(work_dir: Path, build_id: str) -> dict[str, Any]:
    data = json.loads((work_dir / "manifests" / f"{build_id}.json").read_text())
    return data["builds"][-1]  # type: ignore[no-any-return]


def deprecated_a_moment_ago(ec2: Any, image_id: str) -> datetime:
    """Give the image a deprecation time that has passed, the way time does it: AWS (and the sandbox)
    refuse a DeprecateAt in the past, so ask for one 2 s ahead, then wait until the time EC2 shows
    (rounded to the nearest minute: at most ~32 s) is behind us. Returns that time."""
    ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt=datetime.now(UTC) + timedelta(seconds=2))
    shown = ec2.describe_images(ImageIds=[image_id])["Images"][0]["DeprecationTime"]
    when = datetime.fromisoformat(shown.replace("Z", "+00:00"))
    time.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds()) + 0.5)
    return when


def ssh_group(ec2: Any, host_address: str, name: str = "test-ssh-from-host") -> str:
    """A security group letting SSH in from this host only (its address on the sandbox network), as a bake's
    is; created once per sandbox and region. Instances launched without it are in the default group, which,
    as on AWS, lets nothing in from outside."""
    found = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]}])["SecurityGroups"]
    if found:
        return str(found[0]["GroupId"])
    group = str(ec2.create_security_group(GroupName=name, Description="SSH from the test host")["GroupId"])
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": f"{host_address}/32"}]}])
    return group
