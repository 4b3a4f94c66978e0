"""Bake benchmarks: overhead, EC2 requests per bake (issue 7), the build cache's unchanged re-bake (issue 11),
and the aws-profile bake against its critical-path bound, polling overshoot per wait and requests (issue 15).

    python bench/bench_bake.py [--reps 5] [--aws-reps 3] [--scale 1.0] [--quick]

Bakes bench/recipes/reference.yaml with `invoke bake` as a subprocess (interpreter start-up included)
against a private sandbox. Overhead uses the "instant" latency profile. These bakes pass --force: they
measure baking, not the cache. Then the same recipe is baked again unchanged with the cache on (instant
profile), as often as the instant bakes: every one must be a cache hit, timed and counted the same way.
Then the reference recipe with validation on is baked with the "aws" profile: its wall time over its
critical-path bound (bench/critical_path.py: own work plus the longest chain of modelled waits), how late
each wait was noticed (from the JSON log's waits and the latency model's transitions) and the requests it
made. One warm-up bake (not counted) comes first unless --quick.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from common import ROOT, Figure, payload, private_sandbox, report
from critical_path import Bake, bound, overshoots, run_bake, timeline, validated_recipe

RECIPE = "bench/recipes/reference.yaml"
PAYLOAD_SIZE = 20 * 2**20


def one_bake(info: Any, work: Path, *, reuse: bool = False) -> tuple[float, dict[str, int], list[dict[str, Any]]]:
    """Wall seconds of `invoke bake`, the gateway's counts for it (per action, and per service as
    "service:ec2"...), and the manifest's step records.

    A real bake (--force) unless `reuse`: then the build cache must reuse an earlier bake's image."""
    client = info.client()
    client.reset_counts()
    manifest = work / f"manifest-{time.monotonic_ns()}.json"
    env = os.environ | {"GOLDSMITH_SANDBOX_DIR": str(info.state_dir), "INVOKE_GOLDSMITH_WORK_DIR": str(work),
                        "INVOKE_GOLDSMITH_CACHE": "true"}
    command = [sys.executable, "-m", "invoke", "bake", RECIPE, "--manifest", str(manifest)]
    command += [] if reuse else ["--force"]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"the reference bake failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    entry = json.loads(manifest.read_text())["builds"][0]
    if entry.get("reused", False) != reuse:
        raise SystemExit(f"expected {'a cache hit' if reuse else 'a bake'}, got the opposite:\n{done.stdout}")
    counts = client.counts() | {f"service:{k}": v for k, v in client.service_counts().items()}
    return wall, counts, entry.get("steps", [])


def bakes(info: Any, work: Path, reps: int, *, reuse: bool = False
          ) -> list[tuple[float, dict[str, int], list[dict[str, Any]]]]:
    return [one_bake(info, work, reuse=reuse) for _ in range(reps)]


def step_table(runs: list[tuple[float, dict[str, int], list[dict[str, Any]]]]) -> str:
    durations: dict[str, list[float]] = {}
    for _, _, steps in runs:
        for step in steps:
            durations.setdefault(step["name"], []).append(float(step.get("duration", 0.0)))
    lines = ["time per step (median of the instant-profile bakes, ms):"]
    lines += [f"  {name:<22}{statistics.median(values) * 1000:8.0f}" for name, values in durations.items()]
    steps_total = sum(statistics.median(v) for v in durations.values())
    wall = statistics.median(w for w, _, _ in runs)
    outside = (wall - steps_total) * 1000
    lines.append(f"  {'(outside the steps)':<22}{outside:8.0f}  start-up, imports, cleanup, manifest")
    return "\n".join(lines)


def counts_table(counts: dict[str, int]) -> str:
    services = {k.removeprefix("service:"): n for k, n in counts.items() if k.startswith("service:")}
    actions = {k: n for k, n in counts.items() if not k.startswith("service:")}
    by_service = ", ".join(f"{service} {n}" for service, n in sorted(services.items()))
    lines = [f"requests of the last bake by action ({sum(actions.values())}: {by_service}):"]
    lines += [f"  {action:<32}{n:4d}" for action, n in sorted(actions.items(), key=lambda kv: (-kv[1], kv[0]))]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="instant-profile bakes (default 5)")
    parser.add_argument("--aws-reps", type=int, default=3, help="aws-profile bakes (default 3)")
    parser.add_argument("--scale", type=float, default=1.0, help="scale of the aws profile (default 1.0)")
    parser.add_argument("--quick", action="store_true", help="one bake each, aws profile at scale 0.2, no warm-up")
    args = parser.parse_args()
    if args.quick:
        args.reps, args.aws_reps, args.scale = 1, 1, 0.2
    payload("payload.bin", PAYLOAD_SIZE)
    with private_sandbox() as info, tempfile.TemporaryDirectory(prefix="goldsmith-bench-work-") as tmp:
        work = Path(tmp)
        client = info.client()
        if not args.quick:
            one_bake(info, work)  # warm-up: first connections, page cache, the runtime's first instance
        instant = bakes(info, work, args.reps)
        hits = bakes(info, work, args.reps, reuse=True)
        client.set_latency("aws", args.scale)
        try:
            aws = [run_bake(info, work, validated_recipe()) for _ in range(args.aws_reps)]
        finally:
            client.set_latency("instant")
    figures, extra = analyse(instant, aws, args.scale)
    cache_figures, cache_extra = analyse_hits(hits)
    report("bake (reference recipe, private sandbox)", figures + cache_figures, extra + "\n" + cache_extra)
    return 0


def analyse_hits(hits: list[tuple[float, dict[str, int], list[dict[str, Any]]]]) -> tuple[list[Figure], str]:
    """The unchanged re-bake: wall time, RunInstances and every EC2 request it made."""
    figures = [
        Figure("cache hit: unchanged re-bake wall time", "s", [w for w, _, _ in hits], goal=1.5,
               note="`invoke bake` of the unchanged reference recipe after a bake: the image is reused"),
        Figure("cache hit: RunInstances on an unchanged re-bake", "requests",
               [float(c.get("RunInstances", 0)) for _, c, _ in hits], goal=0.0, better="at most",
               note="gateway counts, reset before each bake"),
        Figure("cache hit: EC2 requests", "requests", [float(c.get("service:ec2", 0)) for _, c, _ in hits],
               note="source, cache lookup in both regions, launch permissions in both regions"),
    ]
    return figures, "cache hit: " + counts_table(hits[-1][1])


def analyse(instant: list[tuple[float, dict[str, int], list[dict[str, Any]]]], aws: list[Bake],
            scale: float) -> tuple[list[Figure], str]:
    walls = [w for w, _, _ in instant]
    totals = [float(c.get("service:ec2", 0)) for _, c, _ in instant]
    late = [lateness for bake in aws for lateness in overshoots(bake)]
    where = f"aws profile x {scale:g}, reference recipe + validation, one copy region"
    figures = [
        Figure("bake overhead (instant latency)", "s", walls, goal=1.0,
               note="`invoke bake` subprocess wall time, interpreter start-up included"),
        Figure("EC2 requests per bake", "requests", totals, goal=30, better="at most",
               note="gateway counts of EC2 requests, reset before each bake (IAM and STS: see the table below)"),
        Figure("aws-profile wall / critical-path bound", "x", [b.wall / bound(b) for b in aws], goal=1.15,
               better="at most", note=f"{where}; bound: own work + longest chain of modelled waits"),
        Figure("aws-profile wall", "s", [b.wall for b in aws], note=where),
        Figure("aws-profile critical-path bound", "s", [bound(b) for b in aws], note=where),
        Figure("polling overshoot per wait (aws profile)", "% of the wait",
               [100 * s / m for _, m, s in late if m > 0], goal=10.0,
               note="check that saw it done - end of the modelled transition, every wait of the aws bakes"),
        Figure("EC2 requests per bake (aws profile)", "requests", [float(sum(b.counts.values())) for b in aws],
               note="polls included: the AWS target's policy, scaled"),
    ]
    kinds = sorted({k for k, _, _ in late})
    lines = [f"overshoot by kind of wait ({where}), median % of the wait:"]
    lines += [f"  {k:<20}{statistics.median([100 * s / m for kk, m, s in late if kk == k and m > 0]):6.1f}"
              f"  (n={sum(1 for kk, _, _ in late if kk == k)})" for k in kinds]
    per_action: Counter[str] = Counter(instant[-1][1])
    extra = [step_table(instant), counts_table(dict(per_action)), *lines]
    if aws:  # --aws-reps 0 measures the instant profile only
        extra += ["timeline of the last aws-profile bake:", timeline(aws[-1])]
    return figures, "\n".join(extra)


if __name__ == "__main__":
    sys.exit(main())
