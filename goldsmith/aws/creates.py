"""The bake's creates that take no ClientToken, made safe when botocore retried one whose answer was lost.

EC2 may carry a create out and still fail on the way back (a 500 from a front end, a dropped
connection); botocore then sends the call again, and the answer says so (ResponseMetadata.RetryAttempts
> 0, on a ClientError too). The first attempt's resource exists, unknown to the bake. RunInstances and
CopyImage take a ClientToken, so EC2 runs them once however often they are sent. These do not:

- CreateSnapshots makes a second set: after a retry, the earlier set (snapshots of the same volumes with
  the same description and this build's goldsmith:build-id) is found and deleted before the call returns,
  so a bake that dies right after holds no snapshot it does not know (and the tag finds any left).
- RegisterImage, CreateSecurityGroup and CreateKeyPair answer a Duplicate error: after a retry, the
  resource of that name is looked up; when it carries this build's goldsmith:build-id (the call tagged it
  through TagSpecifications) it is the first attempt's and is adopted: its id is returned as if created.
  A key pair's private key went with the lost answer, so that key pair is deleted and created again.

Without a retry nothing more is called (a normal bake makes the same requests) and a Duplicate stays the
error it is: a name taken by someone else.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, TypeVar

from goldsmith.aws import ec2 as ec2ops
from goldsmith.aws.calls import aws_call, retries_of
from goldsmith.aws.tags import BUILD_ID_TAG, tag_specs, tags_dict
from goldsmith.errors import AwsError

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import (
        FilterTypeDef,
        RegisterImageRequestTypeDef,
        SecurityGroupTypeDef,
        TagTypeDef,
    )

    from goldsmith.aws.ec2 import Waits

KEY_PAIR_TRIES = 3  # creates of one key pair, each after deleting the one a lost answer left
T = TypeVar("T")


def retried_duplicate(exc: AwsError, code: str) -> bool:
    """A Duplicate error on a call botocore had retried: the name may be taken by the call's own first attempt."""
    return exc.code == code and exc.retries > 0


def is_builds(tags: list[TagTypeDef] | None, build_id: str | None) -> bool:
    """Whether a resource's tags say this build made it (a resource without the tag is never adopted)."""
    return build_id is not None and tags_dict(tags).get(BUILD_ID_TAG) == build_id


def found_soon(find: Callable[[], T | None], waits: Waits) -> T | None:
    """`find()`, asked again while it finds nothing, on `waits` for at most `waits.not_found` seconds.

    A Duplicate says the name is taken, yet a Describe* right after the create may not list the resource
    yet (EC2 is eventually consistent); not finding it would fail the bake and leave it unknown.
    """
    deadline = time.monotonic() + waits.not_found
    while True:
        found = find()
        if found is not None or time.monotonic() >= deadline:
            return found
        waits.cancel.sleep(max(waits.delay, 0.05))


def create_key_pair(ec2: EC2Client, name: str, tags: Mapping[str, str], *, waits: Waits) -> tuple[str, str]:
    """An ed25519 key pair; returns (key pair id, private key material). The material is never logged.

    A retried call answering InvalidKeyPair.Duplicate for this build's own key pair: the first attempt's,
    whose private key was lost with its answer; it is deleted and the key pair created again.
    """
    tries = 0
    while True:
        tries += 1
        try:
            with aws_call("CreateKeyPair", name):
                resp = ec2.create_key_pair(KeyName=name, KeyType="ed25519", KeyFormat="pem",
                                           TagSpecifications=tag_specs(["key-pair"], tags))
            return str(resp.get("KeyPairId", name)), str(resp["KeyMaterial"])
        except AwsError as exc:
            if tries >= KEY_PAIR_TRIES or not retried_duplicate(exc, "InvalidKeyPair.Duplicate"):
                raise
            if not is_builds(found_soon(lambda: _key_pair_tags(ec2, name), waits), tags.get(BUILD_ID_TAG)):
                raise
        ec2ops.delete_key_pair(ec2, name)


def _key_pair_tags(ec2: EC2Client, name: str) -> list[TagTypeDef] | None:
    """The key pair's tags ([] when it has none), or None when DescribeKeyPairs does not know it."""
    try:
        with aws_call("DescribeKeyPairs", name):
            pairs = ec2.describe_key_pairs(KeyNames=[name])["KeyPairs"]
    except AwsError as exc:
        if exc.code == "InvalidKeyPair.NotFound":
            return None
        raise
    return pairs[0].get("Tags", []) if pairs else None


def create_security_group(ec2: EC2Client, *, name: str, vpc_id: str, tags: Mapping[str, str], waits: Waits) -> str:
    """An empty group; the caller records its id before any rule is added (so a failed rule can't leak it).

    A retried call answering InvalidGroup.Duplicate for this build's own group adopts it.
    """
    try:
        with aws_call("CreateSecurityGroup", name):
            return str(ec2.create_security_group(
                GroupName=name,
                Description="Goldsmith temporary builder access (SSH from the builder only)",
                VpcId=vpc_id,
                TagSpecifications=tag_specs(["security-group"], tags),
            )["GroupId"])
    except AwsError as exc:
        if not retried_duplicate(exc, "InvalidGroup.Duplicate"):
            raise
        group = found_soon(lambda: _group_named(ec2, name, vpc_id), waits)
        if group is None or not is_builds(group.get("Tags"), tags.get(BUILD_ID_TAG)):
            raise
        return str(group["GroupId"])


def _group_named(ec2: EC2Client, name: str, vpc_id: str) -> SecurityGroupTypeDef | None:
    with aws_call("DescribeSecurityGroups", name):
        groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]},
                                                       {"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
    return groups[0] if groups else None


def register_image(ec2: EC2Client, params: RegisterImageRequestTypeDef, *, waits: Waits) -> str:
    """RegisterImage; a retried call answering InvalidAMIName.Duplicate for this build's own image (the
    build id of the params' image TagSpecifications) adopts it."""
    name = str(params.get("Name", ""))
    try:
        with aws_call("RegisterImage", name):
            return str(ec2.register_image(**params)["ImageId"])
    except AwsError as exc:
        if not retried_duplicate(exc, "InvalidAMIName.Duplicate"):
            raise
        build_id = next((tags_dict(spec.get("Tags")).get(BUILD_ID_TAG) for spec in params.get("TagSpecifications", [])
                         if spec.get("ResourceType") == "image"), None)
        image = found_soon(lambda: next(iter(ec2ops.images_named(ec2, name)), None), waits)
        if image is None or not is_builds(image.get("Tags"), build_id):
            raise
        return str(image["ImageId"])


def create_snapshots(ec2: EC2Client, instance_id: str, description: str, tags: Mapping[str, str], *,
                     waits: Waits) -> dict[str, str]:
    """Snapshot every volume of the instance at once (multi-volume, crash-consistent): volume -> snapshot.

    The snapshots get `tags` (the build's, which RunInstances also gave the volumes) through
    TagSpecifications only: with CopyTagsFromSource=volume as well the same keys would come twice,
    which EC2 may refuse. After a retried call, the snapshots an earlier attempt made are deleted
    (`earlier_snapshots`; deleting a snapshot in progress is allowed).
    """
    with aws_call("CreateSnapshots", instance_id):
        resp = ec2.create_snapshots(
            InstanceSpecification={"InstanceId": instance_id, "ExcludeBootVolume": False},
            Description=description,
            TagSpecifications=tag_specs(["snapshot"], tags),
        )
    made = {str(s["VolumeId"]): str(s["SnapshotId"]) for s in resp["Snapshots"]}
    if retries_of(resp) > 0:
        for snapshot_id in earlier_snapshots(ec2, made, description, tags.get(BUILD_ID_TAG), waits):
            ec2ops.delete_snapshot(ec2, snapshot_id)
    return made


def earlier_snapshots(ec2: EC2Client, made: Mapping[str, str], description: str, build_id: str | None,
                      waits: Waits) -> list[str]:
    """This build's other snapshots of the same volumes with the same description: an earlier attempt's.

    DescribeSnapshots is eventually consistent; the listing is taken as complete once it shows the
    call's own snapshots (younger than the lost ones), asked again on `waits` for at most
    `waits.not_found` seconds, after which what it shows is taken.
    """
    filters: list[FilterTypeDef] = [{"Name": "volume-id", "Values": sorted(made)},
                                    {"Name": "description", "Values": [description]}]
    if build_id is not None:
        filters.append({"Name": f"tag:{BUILD_ID_TAG}", "Values": [build_id]})
    deadline = time.monotonic() + waits.not_found
    while True:
        with aws_call("DescribeSnapshots", f"snapshots of {', '.join(sorted(made))}"):
            found = ec2.describe_snapshots(OwnerIds=["self"], Filters=filters)["Snapshots"]
        listed = {str(s["SnapshotId"]) for s in found if s.get("Description") == description
                  and s.get("VolumeId") in made and (build_id is None or is_builds(s.get("Tags"), build_id))}
        if _all_listed(made.values(), listed) or time.monotonic() >= deadline:
            return sorted(listed - set(made.values()))
        waits.cancel.sleep(max(waits.delay, 0.05))


def _all_listed(own: Collection[str], listed: Collection[str]) -> bool:
    return all(snapshot_id in listed for snapshot_id in own)
