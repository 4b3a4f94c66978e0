"""A control group of its own per instance, so that instances' systemds never share one.

systemd-nspawn --keep-unit runs its container in the cgroup nspawn was started in (its "supervisor" and
"payload" children). Started from the sandbox daemon, every nspawn would be in the daemon's cgroup, and the
guests' systemds would all manage the same /payload/system.slice/...: one guest removing
system.slice/goldsmith-firstboot.service while another attaches to it made that unit fail at random
(status 219/CGROUP), and one guest stopping a unit could kill another guest's processes. So the launcher
joins a fresh cgroup, goldsmith-<hash of the state dir>/<instance id>, in each hierarchy systemd uses (the
unified cgroup2 one and, on hybrid hosts, the v1 name=systemd one) before it starts nspawn, and the runtime
removes that tree once the instance is down (cleanup_stale: after a crashed daemon).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import time
from pathlib import Path

_MOUNTINFO = Path("/proc/self/mountinfo")


def hierarchies() -> list[Path]:
    """Mount points of the cgroup hierarchies systemd uses: cgroup2, and v1 name=systemd if mounted."""
    found = []
    for line in _MOUNTINFO.read_text().splitlines():
        before, _, after = line.partition(" - ")
        fields, extra = before.split(), after.split()
        if len(fields) < 5 or len(extra) < 3:
            continue
        if extra[0] == "cgroup2" or (extra[0] == "cgroup" and "name=systemd" in extra[2].split(",")):
            found.append(Path(fields[4]))
    return found


def group_root(state_dir: Path) -> str:
    """The name of the cgroup under which a sandbox's instances get theirs."""
    return "goldsmith-" + hashlib.sha1(str(state_dir.resolve()).encode()).hexdigest()[:12]


def instance_groups(state_dir: Path, instance_id: str) -> list[Path]:
    """The instance's cgroup in every hierarchy, made if missing."""
    groups = [root / group_root(state_dir) / instance_id for root in hierarchies()]
    for group in groups:
        group.mkdir(parents=True, exist_ok=True)
    return groups


def join_command(groups: list[Path]) -> str:
    """Shell commands that move the running shell into `groups` (its children follow)."""
    return "".join(f"echo $$ > {shlex.quote(str(group / 'cgroup.procs'))} && " for group in groups)


def remove_tree(group: Path) -> bool:
    """Remove a cgroup and its children, deepest first; False if one still holds processes.

    Others may remove parts of the tree meanwhile (a guest's systemd, another cleanup): gone is fine.
    """
    ok = True
    for dirpath, _dirs, _files in os.walk(group, topdown=False):  # os.walk ignores directories that vanish
        ok = _rmdir(Path(dirpath)) and ok
    return ok


def remove_instance(state_dir: Path, instance_id: str, attempts: int = 50) -> bool:
    """Remove the instance's cgroups once its processes are gone (the kernel may still be reaping them)."""
    for _ in range(attempts):
        if all([remove_tree(root / group_root(state_dir) / instance_id) for root in hierarchies()]):
            return True
        time.sleep(0.02)
    return False


def remove_sandbox(state_dir: Path) -> None:
    """Remove every instance cgroup a sandbox left (its processes must be gone)."""
    for root in hierarchies():
        remove_tree(root / group_root(state_dir))


def _rmdir(path: Path) -> bool:
    try:
        os.rmdir(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def processes(group: Path) -> list[int]:
    """Every process in the cgroup and its children."""
    found: list[int] = []
    for dirpath, _dirs, _files in os.walk(group):
        with contextlib.suppress(OSError, ValueError):
            found.extend(int(p) for p in (Path(dirpath) / "cgroup.procs").read_text().split())
    return found
