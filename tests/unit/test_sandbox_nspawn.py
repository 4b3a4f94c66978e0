"""How an instance boots (goldsmith.sandbox.nspawn) and what the sandbox requires for it, without booting one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from goldsmith.errors import EnvironmentProblem
from goldsmith.sandbox import cgroups, nspawn, prereqs


def _spec(tmp_path: Path) -> nspawn.BootSpec:
    return nspawn.BootSpec("i-0abc", tmp_path / "root", tmp_path / "meta", Path("/run/netns/gs1-i-0abc"),
                           {"/dev/sdf": tmp_path / "disks" / "sdf", "/dev/xvdg": tmp_path / "disks" / "xvdg"}, [])


def test_a_missing_nspawn_names_the_package_and_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(EnvironmentProblem, match="apt-get install systemd-container") as caught:
        nspawn.require_nspawn()
    assert caught.value.exit_code == 2


def test_prerequisites_name_systemd_container_when_nspawn_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    real_which = prereqs.shutil.which
    monkeypatch.setattr(prereqs.shutil, "which", lambda cmd: None if cmd == "systemd-nspawn" else real_which(cmd))
    with pytest.raises(EnvironmentProblem, match=r"apt-get install [a-z -]*systemd-container"):
        prereqs.check_prerequisites()


def test_the_sandbox_daemon_exits_2_without_nspawn(tmp_path: Path) -> None:
    """The command line, as `invoke sandbox.up` runs it, with a PATH that has everything but nspawn."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("debootstrap", "unshare", "setpriv", "mount", "cp", "ip", "nft", "nsenter", "modprobe"):
        found = subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True, text=True, check=False)
        if found.stdout.strip():
            (bin_dir / tool).symlink_to(found.stdout.strip())
    result = subprocess.run(
        [sys.executable, "-m", "goldsmith.sandbox", "serve", "--state-dir", str(tmp_path / "state")],
        capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": str(bin_dir), "PYTHONPATH": ":".join(sys.path)},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "systemd-container" in result.stderr + result.stdout


def test_boot_command_boots_systemd_in_the_instance_network_namespace(tmp_path: Path) -> None:
    command = nspawn.boot_command(_spec(tmp_path))
    assert command[:3] == ["setpriv", "--pdeathsig", "KILL"]
    assert "--net=/run/netns/gs1-i-0abc" in command
    nspawn_args = command[command.index(nspawn.require_nspawn()):]
    assert {"--boot", "--register=no", "--keep-unit", "--network-namespace-path=/run/netns/gs1-i-0abc",
            f"--directory={tmp_path / 'root'}", "--kill-signal=SIGRTMIN+4"} <= set(nspawn_args)
    assert nspawn_args[-1] == "systemd.wants=goldsmith-firstboot.service"  # an argument of the guest's init


def test_boot_command_binds_metadata_read_only_and_volumes_at_both_device_names(tmp_path: Path) -> None:
    command = nspawn.boot_command(_spec(tmp_path))
    assert f"--bind-ro={tmp_path / 'meta'}:/run/sandbox" in command
    unit = nspawn.FIRSTBOOT_UNIT
    assert f"--bind-ro={tmp_path / 'meta' / unit}:/run/systemd/system/{unit}" in command
    sdf = tmp_path / "disks" / "sdf"
    assert f"--bind={sdf}:/dev/sdf" in command and f"--bind={sdf}:/dev/xvdf" in command
    assert f"--bind={tmp_path / 'disks' / 'xvdg'}:/dev/xvdg" in command
    assert not any(arg.endswith(":/dev/sdg") for arg in command)  # only sdX names get the xvdX alias


def test_containment_drops_capabilities_and_refuses_kexec(tmp_path: Path) -> None:
    command = nspawn.boot_command(_spec(tmp_path))
    dropped = next(a for a in command if a.startswith("--drop-capability=")).split("=", 1)[1].split(",")
    assert {"CAP_NET_ADMIN", "CAP_MKNOD", "CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH"} <= set(dropped)
    assert "--system-call-filter=~kexec_load kexec_file_load" in command


def test_metadata_holds_the_first_boot_unit_and_the_launch_key(tmp_path: Path) -> None:
    nspawn.write_meta(tmp_path / "meta", "i-0abc", "admin", "ssh-ed25519 AAAA test\n")
    meta = tmp_path / "meta"
    assert (meta / "instance-id").read_text() == "i-0abc\n"
    assert (meta / "authorized_key").read_text() == "ssh-ed25519 AAAA test\n"
    unit = (meta / nspawn.FIRSTBOOT_UNIT).read_text()
    assert "Before=ssh.service" in unit and "ExecStart=/bin/bash /run/sandbox/firstboot" in unit
    assert subprocess.run(["bash", "-n", str(meta / "firstboot")], check=False).returncode == 0


def test_the_launcher_joins_the_instance_s_own_cgroups_before_nspawn_starts(tmp_path: Path) -> None:
    groups = [Path("/sys/fs/cgroup/unified/goldsmith-abc/i-0abc"), Path("/sys/fs/cgroup/systemd/goldsmith-abc/i-0abc")]
    spec = nspawn.BootSpec("i-0abc", tmp_path / "root", tmp_path / "meta", Path("/run/netns/x"), {}, groups)
    command = nspawn.boot_command(spec)
    script = command[command.index("-c") + 1]
    assert script.startswith("echo $$ > /sys/fs/cgroup/unified/goldsmith-abc/i-0abc/cgroup.procs && "
                             "echo $$ > /sys/fs/cgroup/systemd/goldsmith-abc/i-0abc/cgroup.procs && mount -t tmpfs")
    assert script.endswith('exec "$@"')


def test_cgroup_names_are_per_sandbox_and_the_hierarchies_are_systemd_s(tmp_path: Path) -> None:
    assert cgroups.group_root(tmp_path / "a") != cgroups.group_root(tmp_path / "b")
    assert cgroups.group_root(tmp_path / "a") == cgroups.group_root(tmp_path / "a" / ".." / "a")
    mounts = Path("/proc/self/mounts").read_text()
    assert {str(p) for p in cgroups.hierarchies()} == {
        line.split()[1] for line in mounts.splitlines()
        if line.split()[2] == "cgroup2" or (line.split()[2] == "cgroup" and "name=systemd" in line.split()[3])
    }
