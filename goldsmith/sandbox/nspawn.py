"""How an instance boots: systemd-nspawn runs the image's own /sbin/init (systemd) as its PID 1.

`systemd-nspawn --boot` (Debian: systemd-container) makes the pid/mount/uts/ipc/cgroup namespaces, a
fresh /dev, /proc and /run, and joins the instance's network namespace (goldsmith.sandbox.network). The
host's PID 1 is not systemd, so nspawn neither registers the machine nor makes a scope unit
(--register=no --keep-unit). What cloud-init does on EC2 comes from the sandbox, read-only and per
instance, never from the volume: the metadata directory at /run/sandbox and the unit
goldsmith-firstboot.service in /run/systemd/system, which the init is told to start
(`systemd.wants=`, read from PID 1's command line in a container) before sshd, from the first moment
(the root file system is writable from the start; waiting for local-fs.target cost ~90 ms of each boot).
--suppress-sync: the guest's sync() and fsync() return at once (dpkg and journald call them a lot); the
runtime syncs the host before it unmounts or snapshots a volume, which is when it matters.

Containment, as container runtimes do it and at least as strict as the unshare launcher it replaced:
nspawn binds /proc/sys, /proc/irq, /proc/bus, /proc/fs, /proc/acpi and /sys read-only and masks
/proc/kcore and /proc/sysrq-trigger; we mask /proc/keys, /proc/kallsyms, /proc/timer_list,
/proc/latency_stats and /proc/sched_debug with /dev/null (MASKED_PROC). The capability bounding set is
nspawn's default (no sys_module, sys_time, sys_rawio, syslog, mac_*, bpf, perfmon...) minus
DROPPED_CAPABILITIES. It keeps sys_boot, because the guest's reboot() only ends its own pid namespace
(nspawn then exits with REBOOT_EXIT), and kexec is refused by the system call filter (nspawn's, and
ours in case a later nspawn allows it). Guests are root in the host's user namespace with
CAP_SYS_ADMIN: this guards against a recipe's accidents, not a hostile guest. Not a VM.
"""

from __future__ import annotations

import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

from goldsmith.errors import EnvironmentProblem
from goldsmith.sandbox.cgroups import join_command

NSPAWN = "systemd-nspawn"
NSPAWN_PACKAGE = "systemd-container"
REBOOT_EXIT = 133  # systemd-nspawn's exit status when the container rebooted
POWEROFF_SIGNAL = "SIGRTMIN+4"  # systemd: start poweroff.target (EC2's ACPI shutdown); nspawn sends it on SIGTERM
REBOOT_SIGNAL = signal.SIGRTMIN + 5  # systemd: start reboot.target (EC2's RebootInstances)
META_MOUNT = "/run/sandbox"
FIRSTBOOT_UNIT = "goldsmith-firstboot.service"
DROPPED_CAPABILITIES = (
    "CAP_AUDIT_CONTROL", "CAP_DAC_READ_SEARCH", "CAP_LEASE", "CAP_LINUX_IMMUTABLE", "CAP_MKNOD",
    "CAP_NET_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_TTY_CONFIG",
)  # fmt: skip
DENIED_SYSCALLS = ("kexec_load", "kexec_file_load")
# Host internals nspawn 252 leaves readable (it masks /proc/kcore and /proc/sysrq-trigger itself).
MASKED_PROC = ("/proc/keys", "/proc/timer_list", "/proc/kallsyms", "/proc/latency_stats", "/proc/sched_debug")
NSPAWN_RUN_DIR = Path("/run/systemd/nspawn")
# nspawn keeps per-machine directories in NSPAWN_RUN_DIR: a private tmpfs there (in the launcher's own mount
# namespace) keeps them off the host and apart per instance.
_PRIVATE_RUN_DIR = f'mount -t tmpfs -o mode=0755,size=1m nspawn {NSPAWN_RUN_DIR} && exec "$@"'
_HERE = Path(__file__).resolve().parent
_FIRSTBOOT_SCRIPT = _HERE / "instance_firstboot.sh"

FIRSTBOOT_UNIT_TEXT = f"""[Unit]
Description=Goldsmith sandbox: what cloud-init does on EC2 (host keys, launch key, hostname)
DefaultDependencies=no
Before=ssh.service ssh.socket shutdown.target
Conflicts=shutdown.target
ConditionPathExists={META_MOUNT}/instance-id

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/bash {META_MOUNT}/firstboot
StandardOutput=journal
"""


@dataclass(frozen=True)
class BootSpec:
    """Everything one boot of an instance needs from the host."""

    instance_id: str
    root: Path  # the mounted root volume
    meta: Path  # write_meta()'s directory
    netns: Path  # the instance's network namespace, /run/netns/NAME
    disks: dict[str, Path]  # device name (/dev/sdf) -> mounted data volume
    cgroups: list[Path]  # the instance's own cgroups (goldsmith.sandbox.cgroups), joined before nspawn starts


def require_nspawn() -> str:
    """The path of systemd-nspawn, or an EnvironmentProblem naming the package to install."""
    path = shutil.which(NSPAWN)
    if path is None:
        raise EnvironmentProblem(
            f"{NSPAWN} is not installed: sandbox instances boot their image's systemd with it; "
            f"install it with: apt-get install {NSPAWN_PACKAGE}"
        )
    return path


def prepare_host() -> None:
    """Check nspawn is there and make the (empty) directory the launchers mount their private tmpfs on."""
    require_nspawn()
    NSPAWN_RUN_DIR.mkdir(parents=True, exist_ok=True)


def write_meta(meta: Path, instance_id: str, user: str, authorized_key: str, nameserver: str | None = None) -> None:
    """The instance's metadata and first-boot unit, bound read-only into it (the instance's "IMDS"), and the
    resolver its /etc/resolv.conf names (as EC2's DHCP gives the VPC's; None: the image's file stays)."""
    meta.mkdir(parents=True, exist_ok=True)
    (meta / "resolv.conf").unlink(missing_ok=True)
    if nameserver:
        (meta / "resolv.conf").write_text(f"nameserver {nameserver}\n")
    shutil.copyfile(_FIRSTBOOT_SCRIPT, meta / "firstboot")
    (meta / FIRSTBOOT_UNIT).write_text(FIRSTBOOT_UNIT_TEXT)
    (meta / "instance-id").write_text(instance_id + "\n")
    (meta / "user").write_text(user + "\n")
    (meta / "authorized_key").write_text(authorized_key)


def boot_command(spec: BootSpec) -> list[str]:
    """The command that boots the instance and returns when it powers off (0) or reboots (REBOOT_EXIT).

    nspawn is the PID 1 of a pid namespace of its own (unshare), in the instance's network namespace
    (nsenter): when it dies, even by SIGKILL, the kernel kills everything in that namespace, the
    container included (a container whose nspawn was killed lives on otherwise). setpriv --pdeathsig
    and --kill-child: that happens when the thread that started the instance dies.
    """
    binds = [f"--bind-ro={spec.meta}:{META_MOUNT}",
             f"--bind-ro={spec.meta / FIRSTBOOT_UNIT}:/run/systemd/system/{FIRSTBOOT_UNIT}"]
    for device, source in sorted(spec.disks.items()):
        binds.append(f"--bind={source}:{device}")
        if device.startswith("/dev/sd"):  # the Xen-style alias AWS documents for the same device
            binds.append(f"--bind={source}:/dev/xvd{device.removeprefix('/dev/sd')}")
    masked = [f"--bind-ro=/dev/null:{path}" for path in MASKED_PROC if Path(path).exists()]
    return [
        "setpriv", "--pdeathsig", "KILL", "--",
        "nsenter", f"--net={spec.netns}", "--",
        "unshare", "--pid", "--mount", "--fork", "--mount-proc", "--kill-child=SIGKILL", "--propagation", "private",
        "--",
        "/bin/sh", "-c", join_command(spec.cgroups) + _PRIVATE_RUN_DIR, "boot",
        require_nspawn(), "--quiet", "--boot", f"--directory={spec.root}",
        f"--machine={spec.instance_id}", "--register=no", "--keep-unit",
        f"--network-namespace-path={spec.netns}",
        "--console=read-only", "--link-journal=no", "--resolv-conf=off", "--timezone=off",
        f"--kill-signal={POWEROFF_SIGNAL}", "--suppress-sync=yes",
        f"--drop-capability={','.join(DROPPED_CAPABILITIES)}",
        f"--system-call-filter=~{' '.join(DENIED_SYSCALLS)}",
        *masked, *binds,
        f"systemd.wants={FIRSTBOOT_UNIT}",
    ]  # fmt: skip
