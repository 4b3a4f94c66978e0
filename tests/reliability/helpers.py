"""Helpers of the reliability suite: run real bakes as a user would, and find what they left anywhere."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from goldsmith.aws.reaper import find_tagged
from tests.sandbox.helpers import REPO as REPO
from tests.sandbox.helpers import aws_keys, build_ids, run_invoke

FAST = REPO / "tests" / "reliability" / "recipes" / "fast.yaml"
FAST_REGIONS = ("us-east-1", "us-west-2")  # the build region and the recipe's image.regions
KINDS = ("instances", "volumes", "key-pairs", "security-groups", "snapshots", "images")


def ec2_client(gateway_url: str, region: str) -> Any:
    return boto3.client("ec2", region_name=region, endpoint_url=gateway_url, **aws_keys())


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


@dataclass
class CellOutcome:
    """One kill-matrix cell: a run with one fault injected, and what it (and `invoke clean`) left."""

    fault: str
    returncode: int
    output: str
    build_id: str
    seconds: float
    left_before_clean: int = 0  # SIGKILL only: what the killed run left for `invoke clean`
    clean_error: str = ""
    leaks: list[str] = field(default_factory=list)


def tagged_ids(gateway_url: str, build_id: str) -> list[str]:
    return [f"{kind}/{rid}" for kind, ids in tagged_leftovers(gateway_url, build_id).items() for rid in ids]


def run_cells(faults: Iterable[str], run: Callable[[str, Path], tuple[int, str, str]], tmp_path: Path,
              sandbox_dir: Path, gateway_url: str) -> list[CellOutcome]:
    """Run one step's cells at the same time (each a process with its own work dir and build id), then
    find what each left: anything tagged with its build id, and any new resource of the account without
    tags (counted against every cell of the batch, since an untagged leak cannot say whose it is).

    `run(fault, work)` returns (exit code, output, build id). SIGKILLed runs are then cleaned up with
    `invoke clean --build-id` (journal + tags), which must leave nothing.
    """
    before = inventory(gateway_url)

    def one(fault: str) -> CellOutcome:
        work = tmp_path / fault
        t0 = time.monotonic()
        code, output, build_id = run(fault, work)
        outcome = CellOutcome(fault, code, output, build_id, 0.0)
        if fault == "SIGKILL" and build_id:
            outcome.left_before_clean = len(tagged_ids(gateway_url, build_id))
            cleaned = clean(build_id, work, sandbox_dir)
            if cleaned.returncode != 0:
                outcome.clean_error = cleaned.stdout + cleaned.stderr
        outcome.seconds = round(time.monotonic() - t0, 2)
        return outcome

    faults = list(faults)
    with ThreadPoolExecutor(max_workers=len(faults)) as pool:
        outcomes = list(pool.map(one, faults))
    untagged = inventory(gateway_url) - before
    for outcome in outcomes:
        mine = set(tagged_ids(gateway_url, outcome.build_id)) if outcome.build_id else set()
        outcome.leaks = sorted(mine | untagged)
    return outcomes
