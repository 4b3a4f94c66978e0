"""The layer/volume/snapshot store's bookkeeping, on plain directories (no mounts, no root needed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from goldsmith.sandbox.volumes import BASE_LAYER, EMPTY_LAYER, VolumeStore, tree_bytes


@pytest.fixture
def store(tmp_path: Path) -> VolumeStore:
    base = tmp_path / "base"
    (base / "etc").mkdir(parents=True)
    (base / "etc" / "os-release").write_text("debian\n")
    s = VolumeStore(tmp_path / "store", base)
    s.register_base_snapshot("snap-base")
    return s


def write(store: VolumeStore, volume_id: str, name: str, size: int) -> None:
    """Write into the volume's upper directory, as a running instance would through overlayfs."""
    (store.volumes[volume_id].upper / name).write_bytes(b"x" * size)


def test_stopped_snapshot_moves_the_upper_into_a_layer(store: VolumeStore) -> None:
    store.create_volume("vol-1", "snap-base")
    write(store, "vol-1", "file", 100_000)
    stored = store.snapshot_volume("vol-1", "snap-1")
    assert 100_000 <= stored < 120_000
    (layer,) = store.layer_names()
    assert store.snapshots["snap-1"].layers == (layer, BASE_LAYER)
    assert store.volumes["vol-1"].layers == [layer, BASE_LAYER]
    assert list(store.volumes["vol-1"].upper.iterdir()) == []
    assert (store.layer_dir / layer / "file").stat().st_size == 100_000
    assert store.snapshot_size("snap-1") == stored


def test_unchanged_volume_snapshot_stores_nothing(store: VolumeStore) -> None:
    store.create_volume("vol-1", "snap-base")
    assert store.snapshot_volume("vol-1", "snap-1") == 0
    assert store.layer_names() == []
    assert store.snapshots["snap-1"].layers == (BASE_LAYER,)


def test_mode_change_of_the_volume_root_is_a_change(store: VolumeStore) -> None:
    store.create_volume("vol-1", None)
    assert store.volumes["vol-1"].layers == [EMPTY_LAYER]
    store.volumes["vol-1"].upper.chmod(0o700)
    store.snapshot_volume("vol-1", "snap-1")
    (layer,) = store.layer_names()
    assert (store.layer_dir / layer).stat().st_mode & 0o777 == 0o700
    assert store.volumes["vol-1"].upper.stat().st_mode & 0o777 == 0o700  # the fresh upper keeps it
    assert store.snapshot_volume("vol-1", "snap-2") == 0


def test_layers_live_while_a_volume_or_snapshot_uses_them(store: VolumeStore) -> None:
    store.create_volume("vol-1", "snap-base")
    write(store, "vol-1", "a", 10)
    store.snapshot_volume("vol-1", "snap-1")
    store.copy_snapshot("snap-1", "snap-copy")
    store.create_volume("vol-2", "snap-1")
    (layer,) = store.layer_names()
    store.delete_snapshot("snap-1")
    store.delete_volume("vol-1")
    assert store.layer_names() == [layer]  # snap-copy and vol-2 still use it
    store.delete_snapshot("snap-copy")
    assert store.layer_names() == [layer]  # vol-2 still uses it
    store.delete_volume("vol-2")
    assert store.layer_names() == []
    assert (store.layer_dir / BASE_LAYER / "etc" / "os-release").exists()  # never removed


def test_chain_grows_one_layer_per_changed_snapshot(store: VolumeStore) -> None:
    store.create_volume("vol-1", "snap-base")
    for n in range(3):
        write(store, "vol-1", f"f{n}", 10)
        store.snapshot_volume("vol-1", f"snap-{n}")
    assert len(store.snapshots["snap-2"].layers) == 4
    store.create_volume("vol-2", "snap-1")
    assert store.volumes["vol-2"].layers == list(store.snapshots["snap-1"].layers)


def test_mistakes_are_sentences(store: VolumeStore) -> None:
    store.create_volume("vol-1", None)
    with pytest.raises(ValueError, match="volume vol-1 already exists"):
        store.create_volume("vol-1", None)
    with pytest.raises(ValueError, match="snapshot snap-x does not exist"):
        store.create_volume("vol-2", "snap-x")
    with pytest.raises(ValueError, match="volume vol-9 does not exist"):
        store.snapshot_volume("vol-9", "snap-9")
    store.snapshot_volume("vol-1", "snap-1")
    with pytest.raises(ValueError, match="snapshot snap-1 already exists"):
        store.snapshot_volume("vol-1", "snap-1")


def test_tree_bytes_counts_hard_links_once(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(os.urandom(64 * 1024))
    os.link(tmp_path / "big", tmp_path / "link")
    assert 64 * 1024 <= tree_bytes(tmp_path) < 2 * 64 * 1024


def test_live_snapshot_is_copied_in_three_steps_and_keeps_the_upper(store: VolumeStore, tmp_path: Path) -> None:
    store.create_volume("vol-1", "snap-base")
    write(store, "vol-1", "file", 10_000)
    store.volumes["vol-1"].mountpoint = tmp_path / "mnt"  # attached, as far as the store knows
    layer = store.begin_snapshot("vol-1", "snap-live")
    assert layer is not None
    with pytest.raises(ValueError, match="is mounted"):
        store.snapshot_stopped("vol-1", "snap-other")
    partial = store.copy_live_upper("vol-1", layer)  # what the runtime runs without its lock
    store._collect_garbage()  # a partial copy is not garbage while it is being made
    assert partial.is_dir()
    assert store.finish_live_snapshot("vol-1", "snap-live", layer, partial) >= 10_000
    assert store.snapshots["snap-live"].layers == (layer, *store.volumes["vol-1"].layers)
    assert (store.volumes["vol-1"].upper / "file").exists()  # copied, not moved: the instance keeps writing
    with pytest.raises(ValueError, match="snap-live already exists"):
        store.begin_snapshot("vol-1", "snap-live")
