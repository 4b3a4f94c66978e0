"""Find and remove everything tagged with a build id (or any Goldsmith build), in dependency order.

Every Describe call is paginated when the operation can be (`ec2.can_paginate`), so an account with
thousands of resources is searched completely, not just its first page. Which of the found resources
may go is decided by `goldsmith.images.clean`, not here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from goldsmith.aws import ec2 as ec2ops
from goldsmith.aws.calls import aws_call
from goldsmith.aws.tags import BUILD_ID_TAG, tags_dict

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.literals import InstanceStateNameType
    from mypy_boto3_ec2.type_defs import (
        FilterTypeDef,
        ImageTypeDef,
        KeyPairInfoTypeDef,
        ReservationTypeDef,
        SecurityGroupTypeDef,
        SnapshotTypeDef,
        TagTypeDef,
        VolumeTypeDef,
    )

KINDS = ("instances", "images", "snapshots", "volumes", "security-groups", "key-pairs")


@dataclass
class Found:
    """Resources of one region, by kind: instances, images, snapshots, volumes, security-groups, key-pairs."""

    region: str
    resources: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # kind -> [(id, build id)]
    tags: dict[str, dict[str, str]] = field(default_factory=dict)  # image/snapshot id -> its tags
    image_snapshots: dict[str, list[str]] = field(default_factory=dict)  # image id -> its snapshot ids
    newest: dict[str, str] = field(default_factory=dict)  # build id -> its newest resource's creation (ISO 8601)

    def count(self) -> int:
        return sum(len(v) for v in self.resources.values())


def _filters(build_id: str | None) -> list[FilterTypeDef]:
    if build_id:
        return [{"Name": f"tag:{BUILD_ID_TAG}", "Values": [build_id]}]
    return [{"Name": "tag-key", "Values": [BUILD_ID_TAG]}]


def pages(client: BaseClient, operation: str, key: str, **params: Any) -> list[Any]:
    """Every item under `key` of a Describe call, following NextToken when the operation paginates.

    Generic over operations (the method is looked up by name), so neither the parameters nor the
    items are checked here: the caller annotates the items with the operation's TypedDict.
    """
    method = _snake(operation)
    items: list[Any] = []
    with aws_call(operation, key):
        if client.can_paginate(method):
            for page in client.get_paginator(method).paginate(**params):
                items.extend(page.get(key, []))
        else:
            items.extend(getattr(client, method)(**params).get(key, []))
    return items


def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


def find_tagged(ec2: EC2Client, region: str, build_id: str | None) -> Found:
    """Everything in the region carrying goldsmith:build-id (= build_id when given)."""
    flt = _filters(build_id)
    found = Found(region)

    def bid(tags: list[TagTypeDef] | None) -> str:
        return tags_dict(tags).get(BUILD_ID_TAG, "")

    live: list[InstanceStateNameType] = ["pending", "running", "stopping", "stopped"]
    states: FilterTypeDef = {"Name": "instance-state-name", "Values": live}
    reservations: list[ReservationTypeDef] = pages(ec2, "DescribeInstances", "Reservations", Filters=[*flt, states])
    found.resources["instances"] = [
        (i["InstanceId"], bid(i.get("Tags"))) for r in reservations for i in r["Instances"]
    ]
    # disabled images too: DescribeImages leaves them out unless IncludeDisabled
    images: list[ImageTypeDef] = pages(ec2, "DescribeImages", "Images", Owners=["self"], Filters=flt,
                                       IncludeDisabled=True)
    found.resources["images"] = [(i["ImageId"], bid(i.get("Tags"))) for i in images]
    found.tags.update({i["ImageId"]: tags_dict(i.get("Tags")) for i in images})
    found.image_snapshots.update({i["ImageId"]: list(ec2ops.snapshots_by_device(i).values()) for i in images})
    snaps: list[SnapshotTypeDef] = pages(ec2, "DescribeSnapshots", "Snapshots", OwnerIds=["self"], Filters=flt)
    found.resources["snapshots"] = [(s["SnapshotId"], bid(s.get("Tags"))) for s in snaps]
    found.tags.update({s["SnapshotId"]: tags_dict(s.get("Tags")) for s in snaps})
    volumes: list[VolumeTypeDef] = pages(ec2, "DescribeVolumes", "Volumes", Filters=flt)
    found.resources["volumes"] = [(v["VolumeId"], bid(v.get("Tags"))) for v in volumes]
    groups: list[SecurityGroupTypeDef] = pages(ec2, "DescribeSecurityGroups", "SecurityGroups", Filters=flt)
    found.resources["security-groups"] = [(g["GroupId"], bid(g.get("Tags"))) for g in groups]
    key_pairs: list[KeyPairInfoTypeDef] = pages(ec2, "DescribeKeyPairs", "KeyPairs", Filters=flt)
    found.resources["key-pairs"] = [(k["KeyName"], bid(k.get("Tags"))) for k in key_pairs]
    stamped: list[tuple[list[TagTypeDef] | None, object]] = [
        *((i.get("Tags"), i.get("LaunchTime")) for r in reservations for i in r["Instances"]),
        *((i.get("Tags"), i.get("CreationDate")) for i in images),
        *((s.get("Tags"), s.get("StartTime")) for s in snaps),
        *((v.get("Tags"), v.get("CreateTime")) for v in volumes),
        *((k.get("Tags"), k.get("CreateTime")) for k in key_pairs),
    ]  # security groups have no creation time
    for tags, when in stamped:
        _note_newest(found, bid(tags), when)
    return found


def _note_newest(found: Found, build_id: str, when: object) -> None:
    """Keep the latest creation time seen for the build (datetimes from botocore, strings for images)."""
    if when is None or not build_id:
        return
    text = when.isoformat() if hasattr(when, "isoformat") else str(when)
    text = text.replace("Z", "+00:00")
    found.newest[build_id] = max(found.newest.get(build_id, ""), text)


def remove(ec2: EC2Client, found: Found, waits: ec2ops.Waits, report: Callable[[str], None],
           removed: Callable[[str, str], None] = lambda kind, resource_id: None) -> list[str]:
    """Delete what was found: instances first (waited), then images, snapshots, volumes, groups, keys.

    Calls `removed(kind, id)` for each resource gone, and returns the ids that could not be removed,
    with the reason, for a "delete manually" message.
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
                removed(kind, resource_id)
                report(f"removed {kind[:-1]} {resource_id} ({found.region}, build {build_id})")
            except Exception as exc:
                failures.append(f"{kind[:-1]} {resource_id} in {found.region}: {exc}")
    return failures
