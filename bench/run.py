"""Run every benchmark and print one summary table (issue 7): `invoke bench [--quick]`.

    python bench/run.py [--quick] [--json FILE] [--markdown]

Each benchmark runs as its own process (its output is shown as it comes); its JSON figure lines are
collected into the summary. --quick (one short repetition of each) runs in CI so the benchmarks keep
working; its figures are not the ones to quote. A missed goal does not fail the run; a benchmark that
crashes does (exit 1).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import ROOT, Figure, machine, table

BENCHMARKS = [
    ("bench_bake.py", [], ["--quick"]),  # figures 1-3, and the build cache's (issue 11)
    ("bench_sftp.py", [], ["--quick"]),  # figure 4
    ("bench_runtime.py", [], ["--quick"]),  # figure 7
    ("bench_pipeline.py", [], ["--quick"]),  # figure 5
    ("bench_plan.py", [], ["--quick"]),  # figure 5: how --plan grows
]
NOT_BUILT: list[Figure] = []  # every figure is measured now (figure 6: bench_bake.py's cache hits)


def run_one(script: str, args: list[str]) -> tuple[int, list[dict[str, Any]]]:
    """Run a benchmark, echo its output, return its exit status and its figure lines."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / script), *args], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        print(line, end="", flush=True)
        if line.startswith('{"figure"'):
            lines.append(json.loads(line))
    return proc.wait(), lines


def markdown(lines: list[dict[str, Any]], about: dict[str, str]) -> str:
    """The README's Performance table."""
    from common import goal_text, verdict

    def num(value: Any) -> str:
        return "-" if value is None else f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"

    out = [f"Measured {time.strftime('%Y-%m-%d')} on {about['nproc']} x {about['cpu']}, {about['ram']} RAM "
           f"(load average {about['load']} at the start), Python {about['python']}.", "",
           "| figure | unit | min | median | max | goal | |", "|---|---|---|---|---|---|---|"]
    for line in lines:
        out.append(f"| {line['figure']} | {line['unit']} | {num(line['min'])} | {num(line['median'])} | "
                   f"{num(line['max'])} | {goal_text(line)} | {verdict(line)} |")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short repetition of each (CI)")
    parser.add_argument("--json", type=Path, help="also write every figure line to this file")
    parser.add_argument("--markdown", action="store_true", help="also print the summary as a Markdown table")
    args = parser.parse_args()
    about = machine()
    started = time.perf_counter()
    collected: list[dict[str, Any]] = []
    failed = []
    for script, full, quick in BENCHMARKS:
        code, lines = run_one(script, quick if args.quick else full)
        collected += lines
        if code != 0:
            failed.append(f"{script} (exit {code})")
    collected += [figure.as_json() for figure in NOT_BUILT]
    for figure in NOT_BUILT:
        print(json.dumps(figure.as_json()))
    print(f"\n== summary ({'quick' if args.quick else 'full'} run, {time.perf_counter() - started:.0f} s; "
          f"{about['nproc']} x {about['cpu']}, {about['ram']} RAM, load {about['load']} at the start)")
    print(table(collected))
    if args.markdown:
        print("\n" + markdown(collected, about))
    if args.json:
        args.json.write_text("".join(json.dumps(line) + "\n" for line in collected))
    if failed:
        print(f"benchmarks that failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
