"""Pipeline scale-out (issue 11): N independent recipes x 3 regions at concurrency N vs one of them alone.

    python bench/bench_pipeline.py [--recipes 10] [--quick]

A generated project (bench/.data/scale: its own invoke.yaml, so its recipes/ are the project's) holds N
small recipes, each copied to two more regions and validated by a one-test suite. Against a private
sandbox (instant latency profile), it times `invoke pipeline` of one recipe (`--only r00`), then of all
N at concurrency N (both --force), and samples the pipeline process's peak RSS (VmHWM) while it runs. Then an
unchanged rerun (pipelines/release.yaml, baked once first; --quick: the scale pipeline) is timed with the
build cache on. Figures: wall(all) / wall(one) (goal <= 3x), peak RSS (goal <= 300 MB), the rerun's wall
time (goal <= 1.5 s) and its RunInstances (goal 0).
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

PROJECT = DATA / "scale"
RECIPE = """\
name: r{i:02d}
version: 1.0.0
source:
  filter: {{name: "debian-12-sandbox-amd64-*", owners: ["136693071363"]}}
build: {{instance_type: t3.micro, ssh_username: admin}}
provision:
  - {{type: shell, inline: ["echo r{i:02d} | sudo tee /etc/scale-recipe"]}}
image:
  name: "r{i:02d}-{{{{ timestamp }}}}-{{{{ build_id[-4:] }}}}"
  regions: [us-west-2, eu-west-1]
validate:
  suites: [suite.py]
"""
SUITE = '''def test_recipe_file(host):
    assert host.file("/etc/scale-recipe").exists
'''


def make_project(count: int) -> Path:
    shutil.rmtree(PROJECT, ignore_errors=True)
    (PROJECT / "recipes").mkdir(parents=True)
    (PROJECT / "pipelines").mkdir()
    (PROJECT / "invoke.yaml").write_text("goldsmith: {}\n")
    (PROJECT / "suite.py").write_text(SUITE)
    for i in range(count):
        (PROJECT / "recipes" / f"r{i:02d}.yaml").write_text(RECIPE.format(i=i))
    entries = "".join(f"  - recipe: r{i:02d}\n" for i in range(count))
    (PROJECT / "pipelines" / "scale.yaml").write_text(f"name: scale\nconcurrency: {count}\nrecipes:\n{entries}")
    return PROJECT / "pipelines" / "scale.yaml"


def _peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_pipeline(info_dir: Path, pipeline: Path, work: Path, args: list[str]) -> tuple[float, float]:
    """Wall seconds of `invoke pipeline`, and the process's peak RSS in MB (sampled every 50 ms)."""
    env = os.environ | {"GOLDSMITH_SANDBOX_DIR": str(info_dir), "INVOKE_GOLDSMITH_WORK_DIR": str(work),
                        "INVOKE_GOLDSMITH_PLAIN": "true", "INVOKE_GOLDSMITH_CACHE": "true"}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "invoke", "pipeline", str(pipeline), *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, _peak_rss_mb(proc.pid))
        time.sleep(0.05)
    wall = time.perf_counter() - started
    output = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        raise SystemExit(f"the pipeline failed ({proc.returncode}):\n{output[-5000:]}")
    return wall, peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", type=int, default=10, help="independent recipes (default 10)")
    parser.add_argument("--quick", action="store_true", help="3 recipes (CI: the benchmark keeps working)")
    args = parser.parse_args()
    count = 3 if args.quick else args.recipes
    pipeline = make_project(count)
    with private_sandbox() as info, tempfile.TemporaryDirectory(prefix="goldsmith-bench-pipeline-") as tmp:
        work = Path(tmp)
        client = info.client()
        one, _ = run_pipeline(info.state_dir, pipeline, work / "one", ["--only", "r00", "--force"])
        everything, peak = run_pipeline(info.state_dir, pipeline, work / "all", ["--force"])
        # Unchanged rerun: every recipe a build cache hit (the quick run reruns the scale pipeline, the full
        # one bakes pipelines/release.yaml once and reruns it, as the issue states the goal).
        rerun_of = pipeline if args.quick else ROOT / "pipelines" / "release.yaml"
        if not args.quick:
            run_pipeline(info.state_dir, rerun_of, work / "release", ["--force"])
        launched = len(client.requests(action="RunInstances"))
        rerun, _ = run_pipeline(info.state_dir, rerun_of, work / "release", [])
        rerun_launches = len(client.requests(action="RunInstances")) - launched
    bakes = count * 3
    ratio = Figure(f"scale: {bakes} bakes at concurrency {count} vs one bake", "x one bake", [everything / one],
                   goal=3.0, note=f"{count} recipes x 3 regions: {everything:.1f} s; one recipe: {one:.1f} s "
                   "(instant latency profile, private sandbox)")
    rss = Figure("scale: peak RSS of the Goldsmith process", "MB", [peak], goal=300.0,
                 note=f"VmHWM of `invoke pipeline` with {count} bakes at once")
    name = rerun_of.relative_to(ROOT) if rerun_of.is_relative_to(ROOT) else rerun_of.name
    cached = Figure("pipeline: unchanged rerun, wall time", "s", [rerun], goal=1.5,
                    note=f"{name}: every recipe reused (interpreter start-up included)")
    cached_runs = Figure("pipeline: RunInstances on an unchanged rerun", "requests", [float(rerun_launches)],
                         goal=0.0, better="at most", note=str(name))
    report(f"pipeline scale-out ({count} recipes)", [ratio, rss, cached, cached_runs])
    return 0


if __name__ == "__main__":
    sys.exit(main())
