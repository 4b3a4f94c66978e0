"""mount_data_volume run over SSH on this host (root): directory volumes, loop block devices, not found."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from goldsmith.errors import ProvisionError
from goldsmith.provision.volumes import mount_data_volume
from goldsmith.ssh.localsshd import LocalSshd
from goldsmith.ssh.session import SshSession

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/usr/sbin/sshd"), reason="needs root and /usr/sbin/sshd"
)


@pytest.fixture
def session(tmp_path: Path) -> Iterator[SshSession]:
    with LocalSshd(tmp_path / "sshd") as server, SshSession.connect(server.target(), timeout=10) as live:
        yield live


@pytest.fixture
def unmount() -> Iterator[list[Path]]:
    mounted: list[Path] = []
    yield mounted
    for path in mounted:
        subprocess.run(["umount", str(path)], check=False, capture_output=True)


def test_directory_volume_gets_a_bind_mount_once(session: SshSession, tmp_path: Path, unmount: list[Path]) -> None:
    backing = tmp_path / "vol-backing"
    backing.mkdir()
    mount = tmp_path / "data"
    fstab = tmp_path / "fstab"
    fstab.write_text("# existing\n/dev/root / ext4 defaults 0 1\n")
    unmount.append(mount)
    lines: list[str] = []
    for _ in range(2):
        mount_data_volume(
            session,
            volume_id="vol-0123456789abcdef0",
            device=str(backing),
            mount=str(mount),
            filesystem="ext4",
            fstab=str(fstab),
            log=lines.append,
        )
    assert fstab.read_text().splitlines()[2:] == [f"{backing} {mount} none bind,nofail 0 0"]
    assert subprocess.run(["mountpoint", "-q", str(mount)], check=False).returncode == 0
    (mount / "hello").write_text("hi")
    assert (backing / "hello").read_text() == "hi"
    assert any("already mounts" in line for line in lines)


def test_blank_block_device_is_formatted_and_mounted_by_uuid(
    session: SshSession, tmp_path: Path, unmount: list[Path]
) -> None:
    if shutil.which("losetup") is None or shutil.which("mkfs.ext4") is None:
        pytest.skip("needs losetup and mkfs.ext4")
    image = tmp_path / "disk.img"
    with image.open("wb") as handle:
        handle.truncate(64 * 1024 * 1024)
    attach = subprocess.run(["losetup", "-f", "--show", str(image)], capture_output=True, text=True, check=False)
    if attach.returncode != 0:
        pytest.skip(f"no loop device here: {attach.stderr.strip()}")
    loop = attach.stdout.strip()
    mount = tmp_path / "data"
    fstab = tmp_path / "fstab"
    try:
        unmount.append(mount)
        mount_data_volume(
            session, volume_id="vol-1", device=loop, mount=str(mount), filesystem="ext4", fstab=str(fstab)
        )
        uuid = subprocess.run(
            ["blkid", "-o", "value", "-s", "UUID", loop], capture_output=True, text=True, check=True
        ).stdout.strip()
        assert fstab.read_text() == f"UUID={uuid} {mount} ext4 defaults,nofail 0 2\n"
        assert (mount / "lost+found").is_dir()
    finally:
        subprocess.run(["umount", str(mount)], check=False, capture_output=True)
        subprocess.run(["losetup", "-d", loop], check=False)


def test_missing_device_names_the_volume(session: SshSession, tmp_path: Path) -> None:
    with pytest.raises(ProvisionError, match=r"data volume vol-0abc \(/dev/sdp\) did not appear.*vol0abc"):
        mount_data_volume(
            session,
            volume_id="vol-0abc",
            device="/dev/sdp",
            mount=str(tmp_path / "data"),
            filesystem="xfs",
            fstab=str(tmp_path / "fstab"),
            wait=0,
        )
    assert not (tmp_path / "fstab").exists()
