"""Find and remove everything tagged with a build id (or any Goldsmith build), in dependency order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from goldsmith.aws import ec2 as ec2ops
from goldsmith.aws.calls import aws_call
from goldsmith.aws.tags import BUILD_ID_TAG, tags_dict


@dataclass
class Found:
    """Resources of one region, by kind: instances, images, snapshots, volumes, security-groups, key-pairs."""

    region: str
    resources: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # kind -> [(id, build id)]

    def count(self) -> int:
        return sum(len(v) for v in self.resources.values())


def _filters(build_id: str | None) -> list[dict[str, Any]]:
    if build_id:
        return [{"Name": f"tag:{BUILD_ID_TAG}", "Values": [build_id]}]
    return [{"Name": "tag-key", "Values": [BUILD_ID_TAG]}]


def find_tagged(ec2: Any, region: str, build_id: str | None) -> Found:
    """Everything in the region carrying goldsmith:build-id (= build_id when given)."""
    flt = _filters(build_id)
    found = Found(region)

    def bid(tags: Any) -> str:
        return tags_dict(tags).get(BUILD_ID_TAG, "")

    with aws_call("DescribeInstances", "tagged instances"):
        pages = ec2.describe_instances(Filters=[*flt, {"Name": "instance-state-name",
                                                      "Values": ["pending", "running", "stopping", "stopped"]}])
    found.resources["instances"] = [
        (i["InstanceId"], bid(i.get("Tags"))) for r in pages["Reservations"] for i in r["Instances"]
    ]
    with aws_call("DescribeImages", "tagged images"):
        images = ec2.describe_images(Owners=["self"], Filters=flt)["Images"]
    found.resources["images"] = [(i["ImageId"], bid(i.get("Tags"))) for i in images]
    with aws_call("DescribeSnapshots", "tagged snapshots"):
        snaps = ec2.describe_snapshots(OwnerIds=["self"], Filters=flt)["Snapshots"]
    found.resources["snapshots"] = [(s["SnapshotId"], bid(s.get("Tags"))) for s in snaps]
    with aws_call("DescribeVolumes", "tagged volumes"):
        vols = ec2.describe_volumes(Filters=flt)["Volumes"]
    found.resources["volumes"] = [(v["VolumeId"], bid(v.get("Tags"))) for v in vols]
    with aws_call("DescribeSecurityGroups", "tagged security groups"):
        groups = ec2.describe_security_groups(Filters=flt)["SecurityGroups"]
    found.resources["security-groups"] = [(g["GroupId"], bid(g.get("Tags"))) for g in groups]
    with aws_call("DescribeKeyPairs", "tagged key pairs"):
        keys = ec2.describe_key_pairs(Filters=flt)["KeyPairs"]
    found.resources["key-pairs"] = [(k["KeyName"], bid(k.get("Tags"))) for k in keys]
    return found


def remove(ec2: Any, found: Found, waits: ec2ops.Waits, report: Callable[[str], None]) -> list[str]:
    """Delete what was found: instances first (waited), then images, snapshots, volumes, groups, keys.

    Returns the ids that could not be removed, with the reason, for a "delete manually" message.
    """
    failures: list[str] = []
    order: list[tuple[str, Callable[[str], None]]] = [
        ("instances", lambda i: ec2ops.terminate_instance(ec2, i, waits)),
        ("images", lambda i: ec2ops.deregister_image(ec2, i)),
        ("snapshots", lambda i: ec2ops.delete_snapshot(ec2, i)),
        ("volumes", lambda i: ec2ops.delete_volume(ec2, i)),
        ("security-groups", lambda i: ec2ops.delete_security_group(ec2, i)),
        ("key-pairs", lambda i: ec2ops.delete_key_pair(ec2, i)),
    ]
    for kind, delete in order:
        for resource_id, build_id in found.resources.get(kind, []):
            try:
                delete(resource_id)
                report(f"removed {kind[:-1]} {resource_id} ({found.region}, build {build_id})")
            except Exception as exc:
                failures.append(f"{kind[:-1]} {resource_id} in {found.region}: {exc}")
    return failures
