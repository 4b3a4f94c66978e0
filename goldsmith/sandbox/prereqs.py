"""What this machine needs to run the sandbox, checked up front with a sentence on how to fix it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from goldsmith.errors import EnvironmentProblem

# command -> Debian package that provides it
_COMMANDS = {
    "debootstrap": "debootstrap",
    "unshare": "util-linux",
    "setpriv": "util-linux",
    "mount": "mount",
    "cp": "coreutils",
    "ip": "iproute2",  # instances' network namespaces, veth pairs and the sandbox's bridge
    "nft": "nftables",  # security groups' ingress rules and outbound NAT
    "nsenter": "util-linux",
    "systemd-nspawn": "systemd-container",  # boots each instance's own systemd
}


def check_prerequisites() -> None:
    """Raise EnvironmentProblem naming everything missing: root, commands, and overlayfs."""
    problems = []
    if os.geteuid() != 0:
        problems.append("the sandbox must run as root (it mounts overlayfs and makes namespaces); use sudo")
    missing = sorted({pkg for cmd, pkg in _COMMANDS.items() if shutil.which(cmd) is None})
    if missing:
        problems.append(f"install the missing tools with: apt-get install {' '.join(missing)}")
    if not _has_overlayfs():
        problems.append("the kernel lacks overlayfs; load it with: modprobe overlay")
    if not Path("/proc/self/ns/net").exists():
        problems.append("the kernel lacks network namespaces (CONFIG_NET_NS), which every instance needs")
    if problems:
        raise EnvironmentProblem("The sandbox cannot run on this machine: " + "; ".join(problems) + ".")


def _has_overlayfs() -> bool:
    """True if overlay is in /proc/filesystems, loading the module once if we are allowed to."""
    if _overlay_listed():
        return True
    if os.geteuid() == 0 and shutil.which("modprobe"):
        subprocess.run(["modprobe", "overlay"], capture_output=True, check=False)
    return _overlay_listed()


def _overlay_listed() -> bool:
    try:
        text = Path("/proc/filesystems").read_text()
    except OSError:
        return False
    return any(line.split()[-1:] == ["overlay"] for line in text.splitlines())
