"""Benchmark the sandbox's instance runtime: launch-to-SSH time, memory per instance, snapshots.

    python bench/bench_runtime.py [--count 10] [--up-reps 3] [--quick] [--build] [--cache DIR]

Also times `sandbox.up` on a fresh state dir with the base image cached (then down). Prints a table,
then one JSON line per figure (bench/common.py). Needs root. `--build` also times a first-time base
image build into a throwaway cache directory (~1-2 min, downloads from deb.debian.org).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from common import Figure, report

from goldsmith.sandbox.image import ensure_base_image
from goldsmith.sandbox.prereqs import check_prerequisites
from goldsmith.sandbox.runtime import InstanceRuntime


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
        Figure("sandbox: instance launch to SSH-ready", "ms", first, goal=1000.0,
               note="first boot of a new instance: mounts, network namespace, systemd to sshd listening"),
        Figure("sandbox: restart to SSH-ready", "ms", again, goal=1000.0,
               note="start of a stopped instance (after its snapshot)"),
        Figure("sandbox: memory per instance (RSS sum)", "MiB", [v / 2**20 for v in rss]),
        Figure("sandbox: memory per instance (PSS sum)", "MiB", [v / 2**20 for v in pss], goal=40.0,
               note="launcher, nspawn and the booted guest (systemd, journald, dbus, logind, sshd, getty)"),
        Figure("sandbox: snapshot of a stopped root volume", "ms", snap_ms),
        Figure("sandbox: snapshot size after first boot", "KiB", [b / 1024 for b in snap_bytes]),
    ]


def bench_up(reps: int) -> list[Figure]:
    """`sandbox.up` on a fresh state dir with the base image cached (moto, gateway, runtime), then down."""
    from goldsmith.sandbox import manage

    ups, downs = [], []
    for _ in range(reps):
        state_dir = Path(tempfile.mkdtemp(prefix="goldsmith-bench-up-"))
        try:
            started = time.perf_counter()
            manage.up(state_dir)
            ups.append(time.perf_counter() - started)
            started = time.perf_counter()
            manage.down(state_dir)
            downs.append(time.perf_counter() - started)
        finally:
            manage.down(state_dir)
            shutil.rmtree(state_dir, ignore_errors=True)
    return [Figure("sandbox: up, base image cached", "s", ups, goal=3.0,
                   note="manage.up on a fresh state dir until the gateway answers health"),
            Figure("sandbox: down", "s", downs)]


def bench_build() -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="bench-image-") as tmp:
        started = time.perf_counter()
        ensure_base_image(Path(tmp))
        return [Figure("sandbox: first-time base image build", "s", [time.perf_counter() - started], goal=120.0,
                       note="debootstrap from deb.debian.org, then the configuration")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10, help="instances to launch (default 10)")
    parser.add_argument("--up-reps", type=int, default=3, help="sandbox up/down cycles (default 3)")
    parser.add_argument("--quick", action="store_true", help="3 instances, one up/down cycle")
    parser.add_argument("--build", action="store_true", help="also time a first-time base image build")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("GOLDSMITH_IMAGE_CACHE", "/var/cache/goldsmith/images")),
        help="base image cache directory",
    )
    args = parser.parse_args()
    if args.quick:
        args.count, args.up_reps = 3, 1
    check_prerequisites()
    figures = bench_build() if args.build else []
    figures += bench_instances(ensure_base_image(args.cache), args.count)
    figures += bench_up(args.up_reps)
    report("sandbox runtime", figures)


if __name__ == "__main__":
    main()
