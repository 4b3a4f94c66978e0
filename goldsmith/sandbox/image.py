"""The sandbox's base image: a Debian 12 root filesystem made once with debootstrap, then cached.

The image plays the part of the official Debian 12 cloud AMI where recipes depend on it: systemd as
init (systemd-sysv: /sbin/init, reboot, shutdown), journald, dbus, OpenSSH without host keys (each
instance makes its own on first boot, as cloud-init does), an `admin` user with passwordless sudo, an
empty machine-id (set on first boot), the AMI's apt sources (bookworm, -updates, -security) with their
lists cached so that instances can install small packages. What cloud-init does on EC2 is not in the
image: the runtime provides it read-only per instance (goldsmith.sandbox.firstboot).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from goldsmith.errors import EnvironmentProblem

BASE_IMAGE_NAME_PREFIX = "debian-12-sandbox-amd64"
BASE_IMAGE_OWNER = "136693071363"  # Debian's real AWS account, so recipes can filter by owner
DEFAULT_USER = "admin"

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
SECURITY_MIRROR = "http://deb.debian.org/debian-security"
PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "openssh-server", "ca-certificates", "sudo", "iproute2", "procps",
    "python3-minimal",
)  # fmt: skip
# Bump when the recipe below changes in a way the package list and scripts don't show.
RECIPE_REVISION = "4"

_CONFIGURE = f"""set -eu
export DEBIAN_FRONTEND=noninteractive
id -u {DEFAULT_USER} >/dev/null 2>&1 || useradd --create-home --shell /bin/bash {DEFAULT_USER}
usermod -p '*' {DEFAULT_USER}
printf '%s ALL=(ALL) NOPASSWD:ALL\\n' {DEFAULT_USER} > /etc/sudoers.d/90-{DEFAULT_USER}
chmod 0440 /etc/sudoers.d/90-{DEFAULT_USER}
rm -f /etc/ssh/ssh_host_*
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' > /etc/hosts
echo localhost > /etc/hostname
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
cat > /etc/apt/sources.list <<SOURCES
deb {MIRROR} {SUITE} main
deb {MIRROR} {SUITE}-updates main
deb {SECURITY_MIRROR} {SUITE}-security main
SOURCES
apt-get update -q
apt-get clean
rm -rf /var/log/apt/* /var/log/dpkg.log /var/cache/debconf/*-old
"""

Progress = Callable[[str], None]


def _quiet(_line: str) -> None:
    """Default progress sink: say nothing."""


def image_key() -> str:
    """A short hash of everything that decides the image's content, so a changed recipe rebuilds."""
    recipe = "\n".join([SUITE, MIRROR, *PACKAGES, DEFAULT_USER, _CONFIGURE, RECIPE_REVISION])
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def image_dir(cache_dir: Path) -> Path:
    """Where the finished image of the current recipe lives in `cache_dir`."""
    return cache_dir / f"{BASE_IMAGE_NAME_PREFIX}-{image_key()}"


def ensure_base_image(cache_dir: Path, progress: Progress = _quiet) -> Path:
    """Return the base root filesystem, building it first if this recipe was never built here."""
    final = image_dir(cache_dir)
    if (final / "etc" / "os-release").exists():
        return final
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _build_lock(cache_dir / f"{final.name}.lock"):
        if (final / "etc" / "os-release").exists():
            return final  # another process built it while we waited
        for stale in cache_dir.glob(f".{final.name}.build-*"):
            _remove_tree(stale)  # left by a build that was killed; we hold the lock, so it is dead
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.build-", dir=cache_dir))
        tmp.chmod(0o755)  # apt's _apt user must reach the lists inside
        try:
            _debootstrap(tmp, progress)
            _configure(tmp, progress)
            os.rename(tmp, final)
        except BaseException:
            _remove_tree(tmp)
            raise
    progress(f"base image ready: {final}")
    return final


@contextlib.contextmanager
def _build_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock so two processes never build the same image at once."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _debootstrap(target: Path, progress: Progress) -> None:
    """Install Debian minbase plus our packages into `target`, streaming debootstrap's lines."""
    cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(target), MIRROR]
    progress(f"building base image with debootstrap ({SUITE} minbase with systemd, ~1-2 min)")
    _run_streaming(cmd, progress, "debootstrap")


def _configure(root: Path, progress: Progress) -> None:
    """Add the admin user, apt sources and lists; remove host keys, the machine-id and caches."""
    progress("configuring base image (admin user, sudo, apt lists)")
    cmd = [
        "unshare", "--mount", "--pid", "--fork", "--kill-child", "--",
        "sh", "-c", 'mount -t proc proc "$1/proc" && exec chroot "$1" /bin/sh -c "$2"', "configure",
        str(root), _CONFIGURE,
    ]  # fmt: skip
    _run_streaming(cmd, progress, "configuring the base image")


def _run_streaming(cmd: list[str], progress: Progress, what: str) -> None:
    """Run `cmd`, pass each output line to `progress`, and raise with the tail if it fails."""
    tail: list[str] = []
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except FileNotFoundError as exc:
        raise EnvironmentProblem(f"{cmd[0]} is not installed; install it with: apt-get install {cmd[0]}") from exc
    assert proc.stdout is not None
    with proc:
        for line in proc.stdout:
            line = line.rstrip()
            tail = [*tail[-19:], line]
            progress(line)
    if proc.returncode != 0:
        last = "\n".join(tail)
        raise EnvironmentProblem(
            f"{what} failed (exit {proc.returncode}); check the network to {MIRROR} and retry. Last lines:\n{last}"
        )


def _remove_tree(path: Path) -> None:
    """Remove a half-built image, unmounting anything debootstrap left mounted inside it first."""
    prefix = str(path) + "/"
    with open("/proc/self/mounts") as handle:
        points = [line.split()[1] for line in handle if line.split()[1].startswith(prefix)]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False)
    shutil.rmtree(path, ignore_errors=True)
