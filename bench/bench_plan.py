"""How `invoke pipeline --plan` grows (issue 11): a generated pipeline of N recipes whose images are cached.

    python bench/bench_plan.py [--sizes 10 100] [--quick]

For each size N, a generated project (bench/.data/plan-N: its own invoke.yaml) holds N independent recipes
on the sandbox's Debian image. Their cached AMIs are put in a private sandbox the way a bake leaves them
(registered from the base image's snapshot, tagged with each recipe's input fingerprint, its build id and
`goldsmith:validation=passed`), without baking N images. Then `invoke pipeline --plan` is timed (a
subprocess: interpreter start-up included) and the gateway's counts say how many DescribeImages it made.
Every recipe must be planned as REUSE. Figures: wall time of the plan (goal <= 3 s at N=100) and
DescribeImages per region (goal: the same at every N).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import DATA, ROOT, Figure, private_sandbox, report

from goldsmith.aws.session import Aws, AwsSettings
from goldsmith.aws.tags import BUILD_ID_TAG, FINGERPRINT_TAG, RECIPE_TAG, VALIDATION_TAG, VERSION_TAG
from goldsmith.bake.sources import source_image
from goldsmith.images.cache import recipe_fingerprint
from goldsmith.recipe.loader import load_recipe

RECIPE = """\
name: p{i:03d}
version: 1.0.0
source:
  filter: {{name: "debian-12-sandbox-amd64-*", owners: ["136693071363"]}}
build: {{instance_type: t3.micro, ssh_username: admin}}
provision:
  - {{type: shell, inline: ["echo p{i:03d} | sudo tee /etc/plan-recipe"]}}
image:
  name: "p{i:03d}-{{{{ timestamp }}}}-{{{{ build_id[-4:] }}}}"
"""


def make_project(count: int) -> Path:
    root = DATA / f"plan-{count}"
    shutil.rmtree(root, ignore_errors=True)
    (root / "recipes").mkdir(parents=True)
    (root / "pipelines").mkdir()
    (root / "invoke.yaml").write_text("goldsmith: {}\n")
    for i in range(count):
        (root / "recipes" / f"p{i:03d}.yaml").write_text(RECIPE.format(i=i))
    entries = "".join(f"  - recipe: p{i:03d}\n" for i in range(count))
    (root / "pipelines" / "plan.yaml").write_text(f"name: plan{count}\nrecipes:\n{entries}")
    return root


def cache_images(aws: Aws, root: Path, count: int, work: Path) -> None:
    """Register one available, validated AMI per recipe with its fingerprint, as a bake would leave it."""
    ec2 = aws.ec2()
    first = load_recipe(root / "recipes" / "p000.yaml", environ={})
    source = source_image(ec2, first)
    snapshot = next(m["Ebs"]["SnapshotId"] for m in source["BlockDeviceMappings"] if m.get("Ebs"))
    for i in range(count):
        loaded = load_recipe(root / "recipes" / f"p{i:03d}.yaml", environ={})
        fp = recipe_fingerprint(loaded, source["ImageId"], work)
        build_id = f"p{i:03d}-bench-{count}"
        tags = {FINGERPRINT_TAG: fp, BUILD_ID_TAG: build_id, RECIPE_TAG: loaded.recipe.name,
                VERSION_TAG: loaded.recipe.version, VALIDATION_TAG: "passed"}
        ec2.register_image(Name=f"p{i:03d}-bench-{count}-{time.monotonic_ns()}", Architecture="x86_64",
                           RootDeviceName="/dev/xvda", VirtualizationType="hvm",
                           BlockDeviceMappings=[{"DeviceName": "/dev/xvda",
                                                 "Ebs": {"SnapshotId": snapshot, "VolumeType": "gp3"}}],
                           TagSpecifications=[{"ResourceType": "image",
                                               "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}])


def plan(state_dir: Path, root: Path, work: Path) -> tuple[float, str]:
    env = os.environ | {"GOLDSMITH_SANDBOX_DIR": str(state_dir), "INVOKE_GOLDSMITH_WORK_DIR": str(work),
                        "INVOKE_GOLDSMITH_CACHE": "true"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "invoke", "pipeline", str(root / "pipelines" / "plan.yaml"), "--plan"],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"the plan failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return wall, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100], help="pipeline sizes (default 10 100)")
    parser.add_argument("--quick", action="store_true", help="sizes 5 and 20 (CI: the benchmark keeps working)")
    args = parser.parse_args()
    sizes = [5, 20] if args.quick else args.sizes
    walls: dict[int, float] = {}
    calls: dict[int, int] = {}
    with private_sandbox() as info, tempfile.TemporaryDirectory(prefix="goldsmith-bench-plan-") as tmp:
        aws = Aws(AwsSettings(region="us-east-1", endpoint_url=info.gateway_url,
                              access_key_id=info.credentials.access_key_id,
                              secret_access_key=info.credentials.secret_access_key))
        client = info.client()
        for count in sizes:
            work = Path(tmp) / str(count)
            root = make_project(count)
            cache_images(aws, root, count, work)
            client.reset_counts()
            walls[count], output = plan(info.state_dir, root, work)
            calls[count] = client.counts().get("DescribeImages", 0)
            planned = [line.split()[1] for line in output.splitlines() if line.startswith("p")]
            if planned != ["REUSE"] * count:
                raise SystemExit(f"expected every recipe reused, got:\n{output}")
    largest = max(sizes)
    extra = "\n".join(f"  {n:4d} recipes: {walls[n]:.2f} s, {calls[n]} DescribeImages" for n in sizes)
    figures = [
        Figure(f"plan: {largest} cached recipes", "s", [walls[largest]], goal=3.0, better="at most",
               note="`invoke pipeline --plan` subprocess wall, start-up included, every recipe REUSE"),
        Figure("plan: DescribeImages, largest vs smallest pipeline", "requests",
               [float(calls[largest] - calls[min(sizes)])], goal=0.0, better="at most",
               note=", ".join(f"{n} recipes: {calls[n]}" for n in sizes)),
    ]
    report("pipeline plan (cached images, private sandbox)", figures, extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
