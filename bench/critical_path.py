"""The aws-profile bake's critical path (issue 15): a timeline of a real sandbox bake, its modelled lower bound,
and how late each wait was noticed.

    python bench/critical_path.py [--scale 1.0]      # one instant and one aws-profile bake, then the timeline

The lower bound is the wall time this bake would have taken if every wait had ended the moment AWS was done
and everything that may overlap had: its own work (its wall time outside the waits on its path, from the
JSON log, and outside the modelled transitions of the chain, which hide the work done between a call and
its wait), with the validation's own work moved beside the copies, plus the longest chain of waits the
latency model kept its resources in:

    max(build instance start, its console)  stop  longest snapshot  registration
        then max(longest region copy, max(validation instance start, its console) + the validation's own work)

Terminations are not on it (nothing waits for them but the very end). Both bakes are of the reference recipe
with validation on (bench/recipes/reference.yaml plus bench/recipes/suites/reference_suite.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import DATA, ROOT, private_sandbox

REFERENCE = ROOT / "bench" / "recipes" / "reference.yaml"
SUITE = "bench/recipes/suites/reference_suite.py"
VALIDATION_STEPS = ("validation:", "validate-image")  # the validation instance's steps and the suites


def validated_recipe() -> Path:
    """The reference recipe with validation on (generated, so the two never drift apart)."""
    path = DATA / "reference-validated.yaml"
    text = REFERENCE.read_text() + f"\nvalidate:\n  suites: [{SUITE}]\n  timeout: 120\n"
    DATA.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


@dataclass
class Bake:
    """One `invoke bake` run: wall time, requests, manifest entry, JSON log records and the model's history."""

    wall: float
    started: float  # time.time() before the subprocess started
    counts: dict[str, int]
    entry: dict[str, Any]
    log: list[dict[str, Any]] = field(default_factory=list)
    transitions: list[dict[str, Any]] = field(default_factory=list)

    def steps(self) -> list[dict[str, Any]]:
        return list(self.entry.get("steps", []))

    def waits(self) -> list[dict[str, Any]]:
        return [r for r in self.log if r.get("event") == "wait"]


def run_bake(info: Any, work: Path, recipe: Path) -> Bake:
    client = info.client()
    client.reset_counts()
    manifest = work / f"manifest-{time.monotonic_ns()}.json"
    env = os.environ | {"GOLDSMITH_SANDBOX_DIR": str(info.state_dir), "INVOKE_GOLDSMITH_WORK_DIR": str(work)}
    command = [sys.executable, "-m", "invoke", "bake", str(recipe.relative_to(ROOT)), "--manifest", str(manifest),
               "--force"]
    started = time.time()
    t0 = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"the bake failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    entry = json.loads(manifest.read_text())["builds"][0]
    log_path = work / "logs" / f"{entry['build_id']}.jsonl"
    log = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    return Bake(wall, started, client.counts(), entry, log, client.transitions(started))


def _longest(transitions: list[dict[str, Any]], action: str, prefix: str = "") -> float:
    return max((t["seconds"] for t in transitions if t["action"] == action and t["resource"].startswith(prefix)),
               default=0.0)


def _instance_ready(transitions: list[dict[str, Any]], nth: int) -> float:
    """The `nth` instance launched (0: build, 1: validation): running and its console posted, from launch."""
    launches = sorted((t for t in transitions if t["action"] == "RunInstances"), key=lambda t: t["start"])
    if len(launches) <= nth:
        return 0.0
    launch = launches[nth]
    console = [t for t in transitions if t["action"] == "console" and t["resource"] == launch["resource"]]
    return max([launch["seconds"], *(c["end"] - launch["start"] for c in console)])


def on_path(bake: Bake) -> list[dict[str, Any]]:
    """The waits on the bake's own path (region copies wait beside it; their join is a "copies" wait)."""
    return [w for w in bake.waits() if w.get("kind") != "copy"]


Interval = tuple[float, float]
CHAIN_ACTIONS = ("RunInstances", "console", "StopInstances", "CreateSnapshots", "RegisterImage")


def _union(intervals: list[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _uncovered(span: Interval, covered: list[Interval]) -> float:
    """Seconds of `span` outside the (merged) `covered` intervals."""
    inside = sum(max(0.0, min(end, span[1]) - max(start, span[0])) for start, end in covered)
    return (span[1] - span[0]) - inside


def busy(bake: Bake) -> list[Interval]:
    """When AWS kept the bake busy: its waits on the path and the modelled transitions of the chain (own work
    done meanwhile, e.g. between a call and its wait, is hidden under them and not counted again)."""
    waits = [(float(w["started"]), float(w["done_at"])) for w in on_path(bake)]
    chain_transitions = [(float(t["start"]), float(t["end"])) for t in bake.transitions if t["action"] in CHAIN_ACTIONS]
    return _union(waits + chain_transitions)


def own_work(bake: Bake, prefixes: tuple[str, ...] = ()) -> float:
    """The bake's time while AWS did not keep it busy: of the whole bake, or of the steps whose names start so."""
    covered = busy(bake)
    if not prefixes:
        return _uncovered((bake.started, bake.started + bake.wall), covered)
    return sum(_uncovered((float(s["started_at"]), float(s["started_at"]) + float(s["duration"])), covered)
               for s in bake.steps() if s["name"].startswith(prefixes))


def chain(bake: Bake, validation_own: float) -> float:
    """The longest chain of modelled waits, with the validation's own work on its branch."""
    t = bake.transitions
    copies = _longest(t, "CopyImage", "ami-")
    validation = _instance_ready(t, 1) + validation_own if _instance_ready(t, 1) else 0.0
    return (_instance_ready(t, 0) + _longest(t, "StopInstances") + _longest(t, "CreateSnapshots")
            + _longest(t, "RegisterImage") + max(copies, validation))


def bound(bake: Bake) -> float:
    """Own work (less the validation's, which may overlap the copies) + the longest chain of waits."""
    validation_own = own_work(bake, VALIDATION_STEPS)
    return own_work(bake) - validation_own + chain(bake, validation_own)


ACTIONS = {  # the model's transitions each kind of wait waits for
    "instance_running": ("RunInstances", "StartInstances"), "console": ("console",),
    "instance_stopped": ("StopInstances",), "instance_gone": ("TerminateInstances",),
    "snapshot": ("CreateSnapshots", "CreateSnapshot", "CreateImage", "CopySnapshot"),
    "image": ("RegisterImage", "CreateImage"), "copy": ("CopyImage",),
}


def overshoots(aws: Bake) -> list[tuple[str, float, float]]:
    """(kind, modelled seconds, seconds noticed late) of every wait the JSON log recorded that the model knows:
    the check that saw it done less the end of the transition it waited for (the last one of its resources
    that began before the wait ended)."""
    out = []
    for w in aws.waits():
        resources = {r.strip() for r in str(w.get("resource", "")).split(",")}
        known = [t for t in aws.transitions if t["resource"] in resources
                 and t["action"] in ACTIONS.get(str(w.get("kind")), ()) and t["start"] <= float(w["done_at"])]
        if not known:
            continue
        last = max(known, key=lambda t: t["end"])
        # A wait that began after AWS was done (an instance terminated long before the cleanup) lost only
        # its first check.
        out.append((str(w["kind"]), float(last["seconds"]),
                    max(0.0, float(w["done_at"]) - max(float(last["end"]), float(w["started"])))))
    return out


def timeline(bake: Bake, width: int = 60) -> str:
    """Steps (and the region copies, which run beside them) on one time axis, as text."""
    rows: list[tuple[str, float, float]] = []
    for step in bake.steps():
        rows.append((step["name"], float(step["started_at"]) - bake.started,
                     float(step["started_at"]) - bake.started + float(step["duration"])))
    for t in bake.transitions:
        if t["action"] == "CopyImage" and t["resource"].startswith("ami-"):
            rows.append((f"  (copy {t['resource'][:12]})", t["start"] - bake.started, t["end"] - bake.started))
    scale = width / max(bake.wall, 1e-9)
    lines = [f"{'':<30}0 s{'':<{width - 6}}{bake.wall:5.1f} s"]
    for name, start, end in rows:
        a, b = int(start * scale), max(int(start * scale) + 1, int(end * scale))
        lines.append(f"{name[:29]:<30}{' ' * a}{'#' * (b - a):<{width - a}} {start:5.1f}-{end:5.1f}")
    last = max((end for _, _, end in rows), default=0.0)
    lines.append(f"{'(after the last step)':<30}{'':<{width}} {last:5.1f}-{bake.wall:5.1f}  cleanup, manifest, exit")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="scale of the aws profile (default 1.0)")
    parser.add_argument("--reps", type=int, default=1, help="aws-profile bakes (default 1; the last is drawn)")
    args = parser.parse_args()
    from common import payload

    payload("payload.bin", 20 * 2**20)
    recipe = validated_recipe()
    import tempfile

    with private_sandbox() as info, tempfile.TemporaryDirectory(prefix="goldsmith-bench-cp-") as tmp:
        work = Path(tmp)
        info.client().set_latency("aws", args.scale)
        try:
            runs = [run_bake(info, work, recipe) for _ in range(args.reps)]
        finally:
            info.client().set_latency("instant")
    aws = runs[-1]
    print(f"aws-profile walls: {', '.join(f'{r.wall:.2f}' for r in runs)} s")
    print(timeline(aws))
    late = overshoots(aws)
    print(f"aws wall {aws.wall:.2f} s; own work {own_work(aws):.2f} s; bound {bound(aws):.2f} s; "
          f"ratio {aws.wall / bound(aws):.3f}; requests {sum(aws.counts.values())}")
    for kind in sorted({k for k, _, _ in late}):
        per = [100 * s / m for k, m, s in late if k == kind and m > 0]
        print(f"  overshoot {kind:<18} median {statistics.median(per):5.1f} % of the wait (n={len(per)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
