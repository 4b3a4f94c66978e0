"""Bake benchmarks: overhead, EC2 requests per bake, polling overshoot (issue 7, figures 1-3) and the
build cache's unchanged re-bake (issue 11).

    python bench/bench_bake.py [--reps 5] [--aws-reps 3] [--scale 1.0] [--quick]

Bakes bench/recipes/reference.yaml with `invoke bake` as a subprocess (interpreter start-up included)
against a private sandbox. Overhead uses the "instant" latency profile; overshoot uses the "aws" profile
and subtracts the waits that profile models for the calls the bake made and the median instant bake.
These bakes pass --force: they measure baking, not the cache. Then the same recipe is baked again
unchanged with the cache on (instant profile), as often as the instant bakes: every one must be a
cache hit, timed and counted the same way. One warm-up bake (not counted) comes first unless --quick.
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

from goldsmith.sandbox.latency import PROFILES, Profile

RECIPE = "bench/recipes/reference.yaml"
PAYLOAD_SIZE = 20 * 2**20


def modelled_wait(counts: dict[str, int], profile: Profile, scale: float) -> float:
    """Seconds the latency profile keeps the bake's resources in transition, waited for one after the other.

    Region copies run in parallel, so copies count once; both snapshots of one CreateSnapshots call too.
    """
    seconds = (counts.get("RunInstances", 0) * profile.instance_start
               + counts.get("StopInstances", 0) * profile.instance_stop
               + counts.get("TerminateInstances", 0) * profile.instance_terminate
               + (counts.get("CreateSnapshots", 0) + counts.get("CreateSnapshot", 0)) * profile.snapshot
               + counts.get("RegisterImage", 0) * profile.image
               + min(1, counts.get("CopyImage", 0)) * profile.copy)
    return seconds * scale


def one_bake(info: Any, work: Path, *, reuse: bool = False) -> tuple[float, dict[str, int], list[dict[str, Any]]]:
    """Wall seconds of `invoke bake`, the gateway's counts for it, and the manifest's step records.

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
    return wall, client.counts(), entry.get("steps", [])


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
    lines = [f"EC2 requests of the last bake by action ({sum(counts.values())}):"]
    lines += [f"  {action:<32}{n:4d}" for action, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
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
            aws = bakes(info, work, args.aws_reps)
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
        Figure("cache hit: EC2 requests", "requests", [float(sum(c.values())) for _, c, _ in hits],
               note="source, cache lookup in both regions, launch permissions in both regions"),
    ]
    return figures, "cache hit: " + counts_table(hits[-1][1])


def analyse(instant: list[tuple[float, dict[str, int], list[dict[str, Any]]]],
            aws: list[tuple[float, dict[str, int], list[dict[str, Any]]]], scale: float) -> tuple[list[Figure], str]:
    walls = [w for w, _, _ in instant]
    base = statistics.median(walls)
    profile = PROFILES["aws"]
    overshoot, literal, modelled = [], [], []
    for wall, counts, _ in aws:
        model = modelled_wait(counts, profile, scale)
        modelled.append(model)
        overshoot.append(100 * (wall - base - model) / model)
        literal.append(100 * (wall - model) / model)
    totals = [float(sum(c.values())) for _, c, _ in instant]
    figures = [
        Figure("bake overhead (instant latency)", "s", walls, goal=1.0,
               note="`invoke bake` subprocess wall time, interpreter start-up included"),
        Figure("EC2 requests per bake", "requests", totals, goal=30, better="at most",
               note="gateway counts, reset before each bake"),
        Figure("modelled waits (aws profile)", "s", modelled,
               note=f"latency profile 'aws' x {scale:g}: what the bake had to wait for"),
        Figure("polling overshoot (aws profile)", "% of modelled", overshoot, goal=10.0,
               note="(aws wall - instant wall median - modelled waits) / modelled waits"),
        Figure("aws-profile wall minus modelled waits", "% of modelled", literal,
               note="the issue's literal reading: includes the bake's own overhead (figure 1)"),
    ]
    per_action: Counter[str] = Counter(instant[-1][1])
    return figures, step_table(instant) + "\n" + counts_table(dict(per_action))


if __name__ == "__main__":
    sys.exit(main())
