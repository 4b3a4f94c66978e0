"""The build cache's lookup against a real moto server: what is reused, what never is, and what it costs.

Each test works in its own regions, so the images of one never answer another's lookup.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from goldsmith.aws.session import Aws
from goldsmith.images.cache import find_cached, lookup

_n = itertools.count()


def register(aws: Aws, region: str, fp: str, build: str, validation: str | None = "passed") -> str:
    """An AMI as a bake registers it, with its fingerprint, build id and validation tags."""
    ec2 = aws.ec2(region)
    volume = ec2.create_volume(Size=1, AvailabilityZone=f"{region}a")["VolumeId"]
    snap = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    tags = {"goldsmith:fingerprint": fp, "goldsmith:build-id": build, "goldsmith:recipe": "r"}
    if validation:
        tags["goldsmith:validation"] = validation
    return str(ec2.register_image(
        Name=f"cache-{next(_n)}", RootDeviceName="/dev/xvda", Architecture="x86_64", VirtualizationType="hvm",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snap}}],
        TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
    )["ImageId"])


@pytest.fixture
def calls(aws: Aws) -> Iterator[Counter[str]]:
    """DescribeImages calls per region, counted on the clients the lookup uses."""
    counted: Counter[str] = Counter()
    handlers = []
    for region in ("eu-west-1", "eu-west-2", "eu-west-3", "ap-south-1"):
        def count(region: str = region, **_: Any) -> None:
            counted[region] += 1
        aws.ec2(region).meta.events.register("before-call.ec2.DescribeImages", count)
        handlers.append((region, count))
    yield counted
    for region, count in handlers:
        aws.ec2(region).meta.events.unregister("before-call.ec2.DescribeImages", count)


def test_only_validated_available_images_with_all_their_copies_are_reused(aws: Aws, calls: Counter[str]) -> None:
    home, away = "eu-west-1", "eu-west-2"
    passed = register(aws, home, "f-passed", "b1")
    register(aws, home, "f-failed", "b2", "failed")
    register(aws, home, "f-unvalidated", "b3", None)  # its bake stopped before validation recorded a result
    no_suites = register(aws, home, "f-none", "b4", "none")
    older = register(aws, home, "f-two", "b5")
    register(aws, home, "f-two", "b6", "failed")  # newer, failed: the older one is reused
    copied = register(aws, home, "f-copied", "b7")
    copy = register(aws, away, "f-copied", "b7")
    register(aws, home, "f-uncopied", "b8")
    register(aws, away, "f-uncopied", "another build")  # a copy of another build does not count
    gone = register(aws, home, "f-gone", "b9")
    aws.ec2(home).deregister_image(ImageId=gone)
    disabled = register(aws, home, "f-disabled", "b10")
    aws.ec2(home).disable_image(ImageId=disabled)

    fps = ["f-passed", "f-failed", "f-unvalidated", "f-none", "f-two", "f-copied", "f-uncopied", "f-gone",
           "f-disabled", "f-never-baked"]
    found = lookup(aws, home, fps, {"f-copied": [away], "f-uncopied": [away]})

    assert {fp: hit.image_id for fp, hit in found.hits.items()} == {
        "f-passed": passed, "f-none": no_suites, "f-two": older, "f-copied": copied}
    assert {r: a.image_id for r, a in found.hits["f-copied"].artifacts.items()} == {home: copied, away: copy}
    assert found.hits["f-passed"].build_id == "b1" and found.hits["f-none"].validation == "none"
    assert "failed its validation" in found.why_not("f-failed")
    assert "no validation result" in found.why_not("f-unvalidated")
    assert f"no usable copy in {away}" in found.why_not("f-uncopied")
    assert found.why_not("f-gone") == found.why_not("f-never-baked") == "no image has this fingerprint"
    assert "f-disabled" not in found.hits  # DescribeImages leaves it out, or shows it disabled
    # One DescribeImages in the build region for every fingerprint, one in the copy region.
    assert calls == {home: 1, away: 1}


def test_many_fingerprints_cost_one_call_per_200(aws: Aws, calls: Counter[str]) -> None:
    region = "eu-west-3"
    hits = {f"f{i:03d}": register(aws, region, f"f{i:03d}", f"b{i}") for i in (0, 150, 299)}
    found = find_cached(aws, region, [f"f{i:03d}" for i in range(300)], ())
    assert {fp: hit.image_id for fp, hit in found.items()} == hits
    assert calls == {region: 2}


def test_nothing_asked_costs_nothing(aws: Aws, calls: Counter[str]) -> None:
    assert find_cached(aws, "ap-south-1", []) == {}
    assert calls == {}
