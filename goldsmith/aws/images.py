"""AMI operations beyond the bake's own: region copies, waits that can be cancelled, tags, deprecation.

The copy wait polls DescribeImages itself (a copy's state has more failure names than botocore's
waiter knows) and sleeps on a cancel token: on Ctrl-C (or when another region's copy failed) every wait
ends within one poll so the cleanup can remove what was made.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from goldsmith.aws import ec2 as ec2ops
from goldsmith.aws.calls import aws_call
from goldsmith.aws.polling import FLOOR, Poll
from goldsmith.aws.tags import VALIDATION_TAG, tag_specs
from goldsmith.aws.tags import client_token as token_of
from goldsmith.aws.wait_log import WaitLog, record_wait
from goldsmith.engine.cancel import NEVER, CancelToken
from goldsmith.errors import AwsError, WaitTimeout

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.literals import ImageStateType
    from mypy_boto3_ec2.type_defs import CopyImageRequestTypeDef, ImageTypeDef

FAILED_IMAGE_STATES: tuple[ImageStateType, ...] = ("failed", "error", "invalid", "deregistered")
ValidationOutcome = Literal["passed", "failed"]  # the goldsmith:validation tag


def copy_image(ec2: EC2Client, *, source_image_id: str, source_region: str, name: str, description: str,
               kms_key: str | None, tags: Mapping[str, str], client_token: str) -> str:
    """CopyImage into the client's region; tags on the copy and its snapshots from the first moment."""
    params: CopyImageRequestTypeDef = {
        "SourceImageId": source_image_id,
        "SourceRegion": source_region,
        "Name": name,
        "Description": description,
        "ClientToken": token_of(client_token),
    }
    if tags:
        params["TagSpecifications"] = tag_specs(["image", "snapshot"], tags)
    if kms_key:
        params.update({"Encrypted": True, "KmsKeyId": kms_key})
    with aws_call("CopyImage", f"{source_image_id} -> {name}"):
        return str(ec2.copy_image(**params)["ImageId"])


def wait_available(ec2: EC2Client, image_id: str, *, timeout: float, delay: float,
                   cancel: CancelToken = NEVER, poll: Poll | None = None, log: WaitLog | None = None) -> ImageTypeDef:
    """Poll (on `poll`'s schedule, else every `delay`) until the image is available; a failed image, a
    timeout or a cancel raise. With `log`, the wait is recorded there as a "copy"."""
    schedule = poll or Poll.fixed(delay)
    started = time.monotonic()
    deadline = started + timeout
    state: ImageStateType | Literal["", "unknown"] = "unknown"
    attempt, pause = 0, 0.0
    while True:
        attempt += 1
        image = ec2ops.find_image(ec2, image_id)
        if image is not None:
            state = image.get("State", "")
            if state == "available":
                record_wait(log, "copy", image_id, started, attempt, pause)
                return image
            if state in FAILED_IMAGE_STATES:
                reason = image.get("StateReason", {}).get("Message", "no reason given")
                raise AwsError(f"{image_id} became {state}: {reason}", operation="CopyImage",
                               resource=image_id, code=f"Image.{state}")
        if time.monotonic() > deadline:
            raise WaitTimeout(f"{image_id} did not become available within {timeout:.0f} s (last state: {state})",
                              operation="DescribeImages", resource=image_id, code="WaitTimeout")
        pause = min(schedule.pause(time.monotonic() - started, attempt), max(FLOOR, deadline - time.monotonic()))
        cancel.sleep(pause)


def image_keys(ec2: EC2Client, image: ImageTypeDef) -> set[str]:
    """The KMS keys encrypting the image's snapshots (from the mapping, else from the snapshots)."""
    keys: set[str] = set()
    unknown: list[str] = []
    for mapping in image.get("BlockDeviceMappings", []):
        ebs = mapping.get("Ebs") or {}
        if ebs.get("Encrypted") and ebs.get("KmsKeyId"):
            keys.add(str(ebs["KmsKeyId"]))
        elif ebs.get("Encrypted") and ebs.get("SnapshotId"):
            unknown.append(str(ebs["SnapshotId"]))
    if unknown:
        with aws_call("DescribeSnapshots", ", ".join(unknown)):
            for snap in ec2.describe_snapshots(SnapshotIds=unknown)["Snapshots"]:
                if snap.get("KmsKeyId"):
                    keys.add(str(snap["KmsKeyId"]))
    return keys


def enable_deprecation(ec2: EC2Client, image_id: str, when: datetime) -> None:
    with aws_call("EnableImageDeprecation", image_id):
        ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt=when)


def delete_snapshot_retrying(ec2: EC2Client, snapshot_id: str, *, timeout: float = 60.0) -> None:
    """Delete a snapshot; right after DeregisterImage AWS may still call it in use for a moment."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            ec2ops.delete_snapshot(ec2, snapshot_id)
            return
        except AwsError as exc:
            if exc.code != "InvalidSnapshot.InUse" or time.monotonic() > deadline:
                raise
            time.sleep(2.0)


def remove_image(ec2: EC2Client, image_id: str, known_snapshots: list[str] | None = None) -> list[str]:
    """Deregister an image and delete its snapshots; returns the snapshot ids deleted."""
    image = ec2ops.find_image(ec2, image_id)
    snapshots = set(known_snapshots or [])
    if image is not None:
        snapshots |= set(ec2ops.snapshots_by_device(image).values())
    ec2ops.deregister_image(ec2, image_id)
    for snapshot_id in sorted(snapshots):
        delete_snapshot_retrying(ec2, snapshot_id)
    return sorted(snapshots)


def public_sharing_blocked(ec2: EC2Client) -> bool | None:
    """Whether the account blocks public AMI sharing in this region (None: the API did not say)."""
    try:
        with aws_call("GetImageBlockPublicAccessState"):
            state = ec2.get_image_block_public_access_state().get("ImageBlockPublicAccessState", "")
    except AwsError:
        return None
    return str(state) == "block-new-sharing"


def tag_validation(ec2: EC2Client, resource_ids: list[str], outcome: ValidationOutcome) -> None:
    """Mark an image (and its snapshots) goldsmith:validation=passed|failed."""
    with aws_call("CreateTags", ", ".join(resource_ids)):
        ec2.create_tags(Resources=list(resource_ids), Tags=[{"Key": VALIDATION_TAG, "Value": outcome}])
