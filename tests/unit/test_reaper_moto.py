"""The reaper's rule for builds with no local journal (`clean(older_than=...)`), against a real moto server.

A build with no journal here may be a bake running on another machine: younger than the threshold it is left
alone; older, its temporary resources go, and so do its snapshots of no image; its images stay (its product).
Each test works in a region of its own.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

from goldsmith.aws.ec2 import Waits
from goldsmith.aws.session import Aws
from goldsmith.images.clean import build_started, clean
from tests.unit.test_clean_moto import image, images_left, key_pair, keys_left, snapshots_left

WAITS = Waits(delay=0.05, instance=30, stop=30, snapshot=30, image=30)
_n = itertools.count()


def orphan_snapshot(aws: Aws, region: str, build: str) -> str:
    ec2 = aws.ec2(region)
    volume = ec2.create_volume(Size=1, AvailabilityZone=f"{region}a")["VolumeId"]
    snap = ec2.create_snapshot(VolumeId=volume, TagSpecifications=[{"ResourceType": "snapshot", "Tags": [
        {"Key": "goldsmith:build-id", "Value": build}]}])["SnapshotId"]
    ec2.delete_volume(VolumeId=volume)
    return snap


def reap(aws: Aws, work: Path, region: str, hours: float) -> list[str]:
    lines: list[str] = []
    result = clean(aws, regions=[region], work_dir=work, build_id=None, waits=WAITS, dry_run=False,
                   report=lines.append, older_than=timedelta(hours=hours))
    assert result.failures == []
    return lines


def test_a_build_without_journal_younger_than_the_threshold_is_left_alone(aws: Aws, tmp_path: Path) -> None:
    region, build = "eu-north-1", f"elsewhere-{next(_n)}"
    key = key_pair(aws, region, build)
    snap = orphan_snapshot(aws, region, build)
    lines = reap(aws, tmp_path, region, hours=1)
    assert keys_left(aws, region, [key]) == {key}
    assert snapshots_left(aws, region, [snap]) == {snap}
    assert any(f"build {build} has no journal here and is younger than 1 h" in line for line in lines)


def test_an_older_build_without_journal_loses_its_temporaries_and_orphan_snapshots_not_its_image(
    aws: Aws, tmp_path: Path
) -> None:
    region = "eu-south-1"
    crashed, baked = f"crashed-{next(_n)}", f"baked-{next(_n)}"
    key = key_pair(aws, region, crashed)
    orphan = orphan_snapshot(aws, region, crashed)
    product, product_snap = image(aws, region, baked)
    reap(aws, tmp_path, region, hours=0)
    assert keys_left(aws, region, [key]) == set()
    assert snapshots_left(aws, region, [orphan]) == set()
    assert images_left(aws, region, [product]) == {product}
    assert snapshots_left(aws, region, [product_snap]) == {product_snap}


def test_the_build_id_tells_when_a_build_began() -> None:
    assert build_started("web-20261203-185635-93ac") == "2026-12-03T18:56:35+00:00"
    assert build_started("validate-20261203-185635-0f0f") == "2026-12-03T18:56:35+00:00"
    assert build_started("hand-made") == ""
    assert build_started("web-20261399-185635-93ac") == ""
