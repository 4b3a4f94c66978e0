"""The sandbox's block storage: volumes and snapshots as stacks of overlayfs layers.

A *layer* is a read-only directory. A *volume* is an ordered list of layers (top first) plus its own
writable upper directory; mounted, it is an overlayfs of the upper over the layers. A *snapshot* is
an ordered list of layers. Snapshotting a volume that is not mounted *moves* its upper directory into
the layer store, so a snapshot holds only what changed since the last one (like EBS). A mounted
volume's upper is copied instead, after a `sync` (crash-consistent, like EBS on a running instance).

Whiteouts and opaque directories that overlayfs leaves in an upper stay valid once it becomes a lower
layer, so deleted files stay deleted down the chain. Layers are shared by snapshots and volumes and
removed when nothing refers to them. Overlayfs stacks at most 500 lower layers; a chain of 500
snapshots of snapshots would hit that limit (not handled). Nothing here is thread-safe: the runtime
holds its lock around every call except copy_live_upper, during which it keeps the volume
busy. Nothing is persisted: the store lives as long as its process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

BASE_LAYER = "base"
EMPTY_LAYER = "empty"


@dataclass
class Volume:
    """A volume: its layers (top first), its writable upper, and where it is mounted, if anywhere."""

    volume_id: str
    layers: list[str]
    directory: Path
    mountpoint: Path | None = None

    @property
    def upper(self) -> Path:
        return self.directory / "upper"

    @property
    def work(self) -> Path:
        return self.directory / "work"


@dataclass
class Snapshot:
    """A snapshot: the layers (top first) that make its content, and the bytes it added itself."""

    snapshot_id: str
    layers: tuple[str, ...]
    own_bytes: int = 0
    own_layer: str | None = None


@dataclass
class VolumeStore:
    """Volumes, snapshots and the layers they share, all under `root`."""

    root: Path
    base_rootfs: Path
    volumes: dict[str, Volume] = field(default_factory=dict)
    snapshots: dict[str, Snapshot] = field(default_factory=dict)
    _next_layer: int = 0

    def __post_init__(self) -> None:
        self.layer_dir.mkdir(parents=True, exist_ok=True)
        (self.root / "volumes").mkdir(exist_ok=True)
        base = self.layer_dir / BASE_LAYER
        if not base.is_symlink():
            base.symlink_to(self.base_rootfs.resolve())
        (self.layer_dir / EMPTY_LAYER).mkdir(mode=0o755, exist_ok=True)

    @property
    def layer_dir(self) -> Path:
        return self.root / "layers"

    def register_base_snapshot(self, snapshot_id: str) -> None:
        """Make `snapshot_id` stand for the base image (the root snapshot of the base AMI)."""
        self.snapshots[snapshot_id] = Snapshot(snapshot_id, (BASE_LAYER,))

    def create_volume(self, volume_id: str, snapshot_id: str | None) -> None:
        """Create a volume holding a snapshot's content, or an empty one."""
        if volume_id in self.volumes:
            raise ValueError(f"volume {volume_id} already exists in the sandbox")
        layers = list(self._snapshot(snapshot_id).layers) if snapshot_id else [EMPTY_LAYER]
        volume = Volume(volume_id, layers, self.root / "volumes" / volume_id)
        volume.directory.mkdir()
        self._fresh_upper(volume)
        self.volumes[volume_id] = volume

    def delete_volume(self, volume_id: str) -> None:
        """Delete a volume that is not mounted, and any layer only it used."""
        volume = self._volume(volume_id)
        if volume.mountpoint is not None:
            raise ValueError(f"volume {volume_id} is in use by a running instance; stop it first")
        del self.volumes[volume_id]
        shutil.rmtree(volume.directory)
        self._collect_garbage()

    def snapshot_volume(self, volume_id: str, snapshot_id: str) -> int:
        """Capture the volume's content now as `snapshot_id`; return the bytes newly stored."""
        live = self.begin_snapshot(volume_id, snapshot_id)
        if live is None:
            return self.snapshot_stopped(volume_id, snapshot_id)
        return self.finish_live_snapshot(volume_id, snapshot_id, live, self.copy_live_upper(volume_id, live))

    def begin_snapshot(self, volume_id: str, snapshot_id: str) -> str | None:
        """Check a snapshot can be taken; for a mounted volume, reserve and return its new layer's name.

        The runtime copies a mounted volume's upper (copy_live_upper) without holding its lock, so
        that a long copy does not stall every other call; None means "not mounted: snapshot_stopped".
        """
        volume = self._volume(volume_id)
        if snapshot_id in self.snapshots:
            raise ValueError(f"snapshot {snapshot_id} already exists in the sandbox")
        return self._new_layer_name() if volume.mountpoint is not None else None

    def snapshot_stopped(self, volume_id: str, snapshot_id: str) -> int:
        """Snapshot a volume that is not mounted: its upper becomes a layer (nothing is copied)."""
        volume = self._volume(volume_id)
        if volume.mountpoint is not None:
            raise ValueError(f"volume {volume_id} is mounted; its upper must be copied, not moved")
        if self._upper_is_empty(volume):
            self.snapshots[snapshot_id] = Snapshot(snapshot_id, tuple(volume.layers))
            return 0
        layer = self._new_layer_name()
        os.rename(volume.upper, self.layer_dir / layer)
        volume.layers.insert(0, layer)
        shutil.rmtree(volume.work)
        self._fresh_upper(volume)
        return self._add_snapshot(snapshot_id, tuple(volume.layers), layer)

    def finish_live_snapshot(self, volume_id: str, snapshot_id: str, layer: str, partial: Path) -> int:
        """Turn a finished copy of a mounted volume's upper into `layer` and record the snapshot."""
        volume = self._volume(volume_id)
        if snapshot_id in self.snapshots:
            shutil.rmtree(partial, ignore_errors=True)
            raise ValueError(f"snapshot {snapshot_id} already exists in the sandbox")
        os.rename(partial, self.layer_dir / layer)
        return self._add_snapshot(snapshot_id, (layer, *volume.layers), layer)

    def _add_snapshot(self, snapshot_id: str, layers: tuple[str, ...], layer: str) -> int:
        size = tree_bytes(self.layer_dir / layer)
        self.snapshots[snapshot_id] = Snapshot(snapshot_id, layers, size, layer)
        return size

    def copy_snapshot(self, source_snapshot_id: str, new_snapshot_id: str) -> None:
        """Make a new snapshot sharing the source's layers (CopySnapshot, CopyImage)."""
        source = self._snapshot(source_snapshot_id)
        if new_snapshot_id in self.snapshots:
            raise ValueError(f"snapshot {new_snapshot_id} already exists in the sandbox")
        self.snapshots[new_snapshot_id] = Snapshot(new_snapshot_id, source.layers, source.own_bytes, None)

    def delete_snapshot(self, snapshot_id: str) -> None:
        """Forget a snapshot; its layers go when no volume or other snapshot uses them."""
        self._snapshot(snapshot_id)
        del self.snapshots[snapshot_id]
        self._collect_garbage()

    def snapshot_size(self, snapshot_id: str) -> int:
        """Bytes stored in the snapshot's own (topmost) layer."""
        return self._snapshot(snapshot_id).own_bytes

    def mount(self, volume_id: str, target: Path) -> None:
        """Mount the volume as overlayfs at `target` (lower paths relative, to keep options short)."""
        volume = self._volume(volume_id)
        if volume.mountpoint is not None:
            raise ValueError(f"volume {volume_id} is already attached to a running instance")
        target.mkdir(parents=True, exist_ok=True)
        options = (
            f"lowerdir={':'.join(volume.layers)},upperdir={volume.upper},workdir={volume.work},index=off,metacopy=off"
        )
        result = subprocess.run(
            ["mount", "-t", "overlay", "overlay", "-o", options, str(target)],
            cwd=self.layer_dir, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise OSError(f"could not mount volume {volume_id} at {target}: {result.stderr.strip()}")
        volume.mountpoint = target

    def unmount(self, volume_id: str) -> None:
        """Sync and unmount the volume; fall back to a lazy unmount only if it stays busy."""
        volume = self._volume(volume_id)
        if volume.mountpoint is None:
            return
        unmount_path(volume.mountpoint)
        volume.mountpoint = None

    def layer_names(self) -> list[str]:
        """The layers stored now, for tests and diagnostics."""
        return sorted(p.name for p in self.layer_dir.iterdir() if p.name not in (BASE_LAYER, EMPTY_LAYER))

    def _volume(self, volume_id: str) -> Volume:
        try:
            return self.volumes[volume_id]
        except KeyError:
            raise ValueError(f"volume {volume_id} does not exist in the sandbox") from None

    def _snapshot(self, snapshot_id: str) -> Snapshot:
        try:
            return self.snapshots[snapshot_id]
        except KeyError:
            raise ValueError(f"snapshot {snapshot_id} does not exist in the sandbox") from None

    def _new_layer_name(self) -> str:
        self._next_layer += 1
        return f"{self._next_layer:x}"

    def _fresh_upper(self, volume: Volume) -> None:
        """An empty upper whose root looks like the top layer's root (the overlay root takes its mode)."""
        top = (self.layer_dir / volume.layers[0]).stat()
        volume.upper.mkdir()
        os.chown(volume.upper, top.st_uid, top.st_gid)
        os.chmod(volume.upper, top.st_mode & 0o7777)
        volume.work.mkdir(exist_ok=True)

    def _upper_is_empty(self, volume: Volume) -> bool:
        if any(volume.upper.iterdir()):
            return False
        top, upper = (self.layer_dir / volume.layers[0]).stat(), volume.upper.stat()
        return (top.st_mode, top.st_uid, top.st_gid) == (upper.st_mode, upper.st_uid, upper.st_gid)

    def copy_live_upper(self, volume_id: str, layer: str) -> Path:
        """Copy a mounted volume's upper after a sync, returning the copy; files vanishing mid-copy are fine.

        Safe without the runtime's lock as long as the volume is neither deleted nor snapshotted
        meanwhile (the runtime marks it busy); the copy is a `.partial-` directory garbage ignores.
        """
        volume = self._volume(volume_id)
        os.sync()
        partial = self.layer_dir / f".partial-{layer}"
        result = subprocess.run(
            ["cp", "-a", str(volume.upper), str(partial)], capture_output=True, text=True, check=False
        )
        errors = [line for line in result.stderr.splitlines() if "No such file or directory" not in line]
        if result.returncode != 0 and errors:
            shutil.rmtree(partial, ignore_errors=True)
            raise OSError(f"could not snapshot volume {volume.volume_id}: {'; '.join(errors[:3])}")
        return partial

    def _collect_garbage(self) -> None:
        """Remove every layer that no volume and no snapshot refers to."""
        used = {name for v in self.volumes.values() for name in v.layers}
        used |= {name for s in self.snapshots.values() for name in s.layers}
        for name in self.layer_names():
            if name not in used and not name.startswith(".partial-"):
                shutil.rmtree(self.layer_dir / name)


def tree_bytes(path: Path) -> int:
    """Disk bytes used under `path` (not counting `path` itself), each inode counted once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def mounts_under(prefix: Path) -> list[str]:
    """Mount points at or under `prefix`, deepest first (the order to unmount them in)."""
    base = str(prefix.resolve()).rstrip("/")
    points = []
    with open("/proc/self/mounts") as handle:
        for line in handle:
            point = line.split()[1].replace("\\040", " ")
            if point == base or point.startswith(base + "/"):
                points.append(point)
    return sorted(points, key=lambda p: (p.count("/"), len(p)), reverse=True)


def unmount_path(point: Path | str, attempts: int = 20) -> None:
    """Unmount `point`, retrying while busy, then lazily as a last resort."""
    for _ in range(attempts):
        result = subprocess.run(["umount", str(point)], capture_output=True, text=True, check=False)
        if result.returncode == 0 or "not mounted" in result.stderr:
            return
        time.sleep(0.05)
    subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)
