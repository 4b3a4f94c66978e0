"""Benchmark the sandbox's instance runtime: launch-to-SSH time, memory per instance, snapshots.

    python bench/bench_runtime.py [--count 10] [--build] [--cache DIR]

Prints a table, then one JSON line per figure. Needs root. `--build` also times a first-time base
image build into a throwaway cache directory (~30-60 s, downloads from deb.debian.org).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from goldsmith.sandbox.image import ensure_base_image
from goldsmith.sandbox.prereqs import check_prerequisites
from goldsmith.sandbox.runtime import InstanceRuntime

Figure = tuple[str, float, str]


def memory_of_instances(runtime: InstanceRuntime, field: str) -> list[int]:
    """Bytes of `field` (Rss or Pss, smaps_rollup) per running instance: its launcher and all below it."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            status = (entry / "smaps_rollup").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
        rss[int(entry.name)] = next(
            (int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith(field + ":")), 0
        )
    totals = []
    for info in runtime.instances():
        stack, total = [info.pid] if info.pid else [], 0
        while stack:
            pid = stack.pop()
            total += rss.get(pid, 0)
            stack.extend(children.get(pid, []))
        totals.append(total)
    return totals


def spread(name: str, values: list[float], unit: str) -> list[Figure]:
    return [
        (f"{name} min", min(values), unit),
        (f"{name} median", statistics.median(values), unit),
        (f"{name} max", max(values), unit),
    ]


def bench_instances(base: Path, count: int) -> list[Figure]:
    """Launch `count` instances from the base snapshot, then restart and snapshot them."""
    with tempfile.TemporaryDirectory(prefix="bench-runtime-") as tmp:
        state = Path(tmp).resolve()
        runtime = InstanceRuntime(state, base)
        runtime.register_base_snapshot("snap-base")
        try:
            first, again, snap_ms, snap_bytes = [], [], [], []
            for n in range(count):
                runtime.create_volume(f"vol-{n}", "snap-base")
                started = time.perf_counter()
                runtime.start_instance(f"i-{n}", f"vol-{n}", {}, authorized_key=None)
                first.append((time.perf_counter() - started) * 1000)
            rss, pss = memory_of_instances(runtime, "Rss"), memory_of_instances(runtime, "Pss")
            for n in range(count):
                runtime.stop_instance(f"i-{n}")
                started = time.perf_counter()
                snap_bytes.append(runtime.snapshot_volume(f"vol-{n}", f"snap-{n}"))
                snap_ms.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                runtime.start_instance(f"i-{n}", f"vol-{n}", {})
                again.append((time.perf_counter() - started) * 1000)
        finally:
            runtime.shutdown()
    return [
        *spread("first launch to SSH ready", first, "ms"),
        *spread("restart to SSH ready", again, "ms"),
        *spread("memory per instance (RSS sum)", [v / 2**20 for v in rss], "MiB"),
        *spread("memory per instance (PSS sum)", [v / 2**20 for v in pss], "MiB"),
        *spread("snapshot of a stopped root volume", snap_ms, "ms"),
        *spread("snapshot size after first boot", [b / 1024 for b in snap_bytes], "KiB"),
    ]


def bench_build() -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="bench-image-") as tmp:
        started = time.perf_counter()
        ensure_base_image(Path(tmp))
        return [("first-time base image build", time.perf_counter() - started, "s")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10, help="instances to launch (default 10)")
    parser.add_argument("--build", action="store_true", help="also time a first-time base image build")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("GOLDSMITH_IMAGE_CACHE", "/var/cache/goldsmith/images")),
        help="base image cache directory",
    )
    args = parser.parse_args()
    check_prerequisites()
    figures = bench_build() if args.build else []
    figures += bench_instances(ensure_base_image(args.cache), args.count)
    width = max(len(name) for name, _, _ in figures)
    for name, value, unit in figures:
        print(f"{name:<{width}}  {value:10.1f} {unit}")
    for name, value, unit in figures:
        print(json.dumps({"bench": "runtime", "figure": name, "value": round(value, 3), "unit": unit}))


if __name__ == "__main__":
    main()
