"""Helpers of the reliability suite: run real bakes as a user would, and find what they left anywhere."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from goldsmith.aws.reaper import find_tagged
from tests.sandbox.helpers import REPO as REPO
from tests.sandbox.helpers import build_ids, run_invoke

FAST = REPO / "tests" / "reliability" / "recipes" / "fast.yaml"
FAST_REGIONS = ("us-east-1", "us-west-2")  # the build region and the recipe's image.regions
KINDS = ("instances", "volumes", "key-pairs", "security-groups", "snapshots", "images")


def ec2_client(gateway_url: str, region: str) -> Any:
    return boto3.client("ec2", region_name=region, endpoint_url=gateway_url,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def tagged_leftovers(gateway_url: str, build_id: str, regions: Iterable[str] = FAST_REGIONS) -> dict[str, list[str]]:
    """Everything still tagged with the build id, per "region/kind" (instances: not terminated)."""
    left: dict[str, list[str]] = {}
    for region in regions:
        found = find_tagged(ec2_client(gateway_url, region), region, build_id)
        for kind, items in found.resources.items():
            if items:
                left[f"{region}/{kind}"] = [rid for rid, _ in items]
    return left


def inventory(gateway_url: str, regions: Iterable[str] = FAST_REGIONS) -> set[str]:
    """Every resource of the account, tagged or not, as "region/kind/id": a leak without tags shows too."""
    out: set[str] = set()
    for region in regions:
        ec2 = ec2_client(gateway_url, region)
        # Filtered by state on the server: moto renders every terminated instance it keeps otherwise (~25 ms
        # each), and a CI run accumulates hundreds.
        live = [{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
        for r in ec2.describe_instances(Filters=live)["Reservations"]:
            out |= {f"{region}/instances/{i['InstanceId']}" for i in r["Instances"]}
        out |= {f"{region}/volumes/{v['VolumeId']}" for v in ec2.describe_volumes()["Volumes"]}
        out |= {f"{region}/snapshots/{s['SnapshotId']}" for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
        out |= {f"{region}/images/{i['ImageId']}" for i in ec2.describe_images(Owners=["self"])["Images"]}
        out |= {f"{region}/key-pairs/{k['KeyName']}" for k in ec2.describe_key_pairs()["KeyPairs"]}
        out |= {f"{region}/security-groups/{g['GroupId']}" for g in ec2.describe_security_groups()["SecurityGroups"]
                if g["GroupName"] != "default"}
    return out


@dataclass
class BakeRun:
    """One `invoke bake` in a subprocess: its exit code, output, build id and timing."""

    returncode: int
    output: str
    build_id: str
    seconds: float
    work: Path
    extra: dict[str, Any] = field(default_factory=dict)


def bake(recipe: Path, work: Path, sandbox_dir: Path, *, env: dict[str, str] | None = None,
         args: Iterable[str] = ()) -> BakeRun:
    """`invoke bake RECIPE` with its own work dir, against the session's sandbox."""
    t0 = time.monotonic()
    proc = run_invoke(["bake", str(recipe), *args], work_dir=work,
                      env={"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir), **(env or {})})
    output = proc.stdout + proc.stderr
    ids = build_ids(work)  # the journal appears with the first resource; before that, the first log line
    said = re.search(r"\bbuild (\S+): ", output)
    build_id = ids[-1] if ids else (said.group(1) if said else "")
    return BakeRun(proc.returncode, output, build_id, time.monotonic() - t0, work)


def clean(build_id: str, work: Path, sandbox_dir: Path) -> subprocess.CompletedProcess[str]:
    """`invoke clean --build-id ID --yes`, from the journal in work and from the tags."""
    return run_invoke(["clean", "--build-id", build_id, "--yes"], work_dir=work,
                      env={"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir)})


def files_with_private_keys(*roots: Path) -> list[str]:
    """Files under the roots that hold private key material (PEM/OpenSSH), unreadable ones skipped."""
    found = []
    for root in roots:
        if not root.exists():
            continue
        for path in root.rglob("*"):
            try:
                small_file = path.is_file() and not path.is_symlink() and path.stat().st_size < 1_000_000
                if small_file and b"PRIVATE KEY-----" in path.read_bytes():
                    found.append(str(path))
            except OSError:
                continue
    return found
