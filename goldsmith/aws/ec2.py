"""EC2 operations the bake needs, each one call (or one waiter) with errors translated."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.parsers import ResponseParserError

from goldsmith.aws.calls import aws_call, error_code, wait
from goldsmith.aws.polling import Poll, PollPolicy, WaitKind
from goldsmith.aws.tags import tag_specs
from goldsmith.aws.wait_log import WaitLog
from goldsmith.engine.cancel import NEVER, CancelToken
from goldsmith.errors import AwsError, PreflightError

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import (
        ImageTypeDef,
        InstanceTypeDef,
        ReservationTypeDef,
        RunInstancesRequestTypeDef,
    )

T = TypeVar("T")
# RunInstances right after CreateSecurityGroup and CreateKeyPair: EC2 may not know them yet.
LAUNCH_NOT_FOUND = ("InvalidGroup.NotFound", "InvalidKeyPair.NotFound")


@dataclass(frozen=True)
class Waits:
    """Seconds to wait for each kind of state change, and how often to poll."""

    delay: float = 5.0
    instance: float = 600.0
    stop: float = 600.0
    snapshot: float = 1800.0
    image: float = 1800.0
    cancel: CancelToken = NEVER  # the run's token: a cancelled run stops waiting within one poll
    not_found: float = 60.0  # how long a NotFound for a resource just created is taken for eventual consistency
    polls: PollPolicy | None = None  # a schedule per kind of wait (goldsmith.aws.polling); None: every `delay`
    log: WaitLog | None = None  # where each wait is recorded (the run's time accounting)

    def poll(self, kind: WaitKind) -> Poll:
        """The schedule for this kind of wait."""
        return self.polls.of(kind) if self.polls is not None else Poll.fixed(self.delay)

    def args(self, kind: WaitKind) -> dict[str, Any]:
        """The keyword arguments of `calls.wait` for this kind of wait."""
        return {"delay": self.delay, "cancel": self.cancel, "poll": self.poll(kind), "kind": kind, "log": self.log}


def retry_not_found(attempt: Callable[[], T], codes: Collection[str], waits: Waits) -> T:
    """`attempt()`, tried again while it fails with one of `codes`, for at most `waits.not_found` seconds.

    EC2 is eventually consistent: right after a create, calls that use the new resource may answer
    that it does not exist. The pause between tries is `waits.delay` on the run's cancel token (a
    cancelled run stops within one pause); when the time is up the last error is raised.
    """
    pause = max(waits.delay, 0.05)
    deadline = time.monotonic() + waits.not_found
    while True:
        try:
            return attempt()
        except AwsError as exc:
            if exc.code not in codes or time.monotonic() + pause > deadline:
                raise
        waits.cancel.sleep(pause)


def find_image(ec2: EC2Client, image_id: str) -> ImageTypeDef | None:
    """The image's description, or None when it does not exist (any more) or is not visible to us. A disabled
    image is found too: DescribeImages leaves disabled AMIs out unless IncludeDisabled."""
    try:
        with aws_call("DescribeImages", image_id):
            images = ec2.describe_images(ImageIds=[image_id], IncludeDisabled=True)["Images"]
    except AwsError as exc:
        # Real EC2 answers a missing or malformed id with an error, not an empty list.
        if exc.code in ("InvalidAMIID.NotFound", "InvalidAMIID.Unavailable", "InvalidAMIID.Malformed"):
            return None
        raise
    return images[0].copy() if images else None


def describe_image(ec2: EC2Client, image_id: str) -> ImageTypeDef:
    """The image's description, to use it (launch, share, copy); a missing or disabled image is bad input
    (PreflightError)."""
    image = find_image(ec2, image_id)
    if image is None:
        raise PreflightError(f"AMI {image_id} does not exist or is not visible to this account.")
    if image.get("State") == "disabled":
        raise PreflightError(f"AMI {image_id} is disabled, so it cannot be launched, shared or copied: enable it "
                             f"first (aws ec2 enable-image --image-id {image_id}).")
    return image


def snapshots_by_device(image: ImageTypeDef) -> dict[str, str]:
    """The image's EBS snapshots: device -> snapshot id."""
    return {m["DeviceName"]: m["Ebs"]["SnapshotId"] for m in image.get("BlockDeviceMappings", [])
            if (m.get("Ebs") or {}).get("SnapshotId")}


def encryption_by_default_key(ec2: EC2Client) -> str | None:
    """The key every new volume in this region is encrypted with when the account turned EBS encryption
    by default on (often the AWS managed aws/ebs), else None."""
    with aws_call("GetEbsEncryptionByDefault"):
        on = ec2.get_ebs_encryption_by_default()["EbsEncryptionByDefault"]
    return default_ebs_key(ec2) if on else None


def default_ebs_key(ec2: EC2Client) -> str:
    """The region's default EBS key: what encrypted volumes, and copies of encrypted AMIs, get without a
    KmsKeyId (GetEbsDefaultKmsKeyId)."""
    with aws_call("GetEbsDefaultKmsKeyId"):
        return ec2.get_ebs_default_kms_key_id()["KmsKeyId"]


def snapshot_size(ec2: EC2Client, snapshot_id: str) -> int | None:
    """The snapshot's size in GiB; None when this account may not describe it (another account's snapshot
    behind a public AMI usually is not public itself)."""
    try:
        with aws_call("DescribeSnapshots", snapshot_id):
            found = ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"]
    except AwsError as exc:
        if exc.code in ("InvalidSnapshot.NotFound", "UnauthorizedOperation", "AuthFailure"):
            return None
        raise
    return int(found[0]["VolumeSize"]) if found and "VolumeSize" in found[0] else None


def images_named(ec2: EC2Client, name: str) -> list[ImageTypeDef]:
    """This account's images of that name, disabled ones included: a disabled AMI keeps its name taken."""
    with aws_call("DescribeImages", name):
        return ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [name]}],
                                   IncludeDisabled=True)["Images"]


def delete_key_pair(ec2: EC2Client, name: str) -> None:
    with aws_call("DeleteKeyPair", name):
        ec2.delete_key_pair(KeyName=name)


def default_vpc(ec2: EC2Client) -> str:
    with aws_call("DescribeVpcs", "default VPC"):
        vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise PreflightError("This region has no default VPC: set build.subnet_id (a subnet to launch in).")
    return str(vpcs[0]["VpcId"])


def subnet_vpc(ec2: EC2Client, subnet_id: str) -> str:
    with aws_call("DescribeSubnets", subnet_id):
        try:
            subnets = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"]
        except Exception as exc:
            if "NotFound" in error_code(exc) or "InvalidSubnet" in error_code(exc):
                raise PreflightError(f"Subnet {subnet_id} (build.subnet_id) does not exist in this region.") from exc
            raise
    if not subnets:
        raise PreflightError(f"Subnet {subnet_id} (build.subnet_id) does not exist in this region.")
    if subnets[0].get("Ipv6Native"):
        raise PreflightError(f"Subnet {subnet_id} (build.subnet_id) is IPv6-only; Goldsmith reaches instances "
                             "over IPv4: pick a subnet with IPv4 addresses (a dual-stack one is fine).")
    return str(subnets[0]["VpcId"])


def allow_ssh_from(ec2: EC2Client, group_id: str, *, cidr: str, port: int, tags: Mapping[str, str],
                   waits: Waits, extra_ports: Sequence[int] = ()) -> None:
    """Let SSH (and `extra_ports`, TCP) in from one CIDR only (the builder's /32); never 0.0.0.0/0.

    A group just created may be unknown for a moment (eventual consistency): InvalidGroup.NotFound is
    retried (`retry_not_found`).
    """
    if cidr in ("0.0.0.0/0", "::/0"):
        raise AwsError(f"refusing to open SSH to {cidr}: the builder's own address is required")

    def authorize() -> None:
        with aws_call("AuthorizeSecurityGroupIngress", group_id):
            ec2.authorize_security_group_ingress(
                GroupId=group_id,
                IpPermissions=[{"IpProtocol": "tcp", "FromPort": p, "ToPort": p,
                                "IpRanges": [{"CidrIp": cidr, "Description": "goldsmith builder"}]}
                               for p in (port, *extra_ports)],
                TagSpecifications=tag_specs(["security-group-rule"], tags),
            )

    retry_not_found(authorize, ("InvalidGroup.NotFound",), waits)


def delete_security_group(ec2: EC2Client, group_id: str, *, timeout: float = 120.0) -> None:
    """Delete, retrying while a terminating instance still holds the group (DependencyViolation)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with aws_call("DeleteSecurityGroup", group_id):
                ec2.delete_security_group(GroupId=group_id)
            return
        except AwsError as exc:
            if exc.code == "InvalidGroup.NotFound":
                return
            if exc.code != "DependencyViolation" or time.monotonic() > deadline:
                raise
            time.sleep(2.0)


def run_instance(ec2: EC2Client, params: RunInstancesRequestTypeDef) -> InstanceTypeDef:
    """One RunInstances call. Right after creating the group and key pair it may fail with one of
    LAUNCH_NOT_FOUND: the caller retries it (`retry_not_found`) with the same params, so the same
    ClientToken, and a retry can never launch a second instance."""
    with aws_call("RunInstances", str(params.get("ImageId", ""))):
        resp = ec2.run_instances(**params)
    return resp["Instances"][0]


def describe_instance(ec2: EC2Client, instance_id: str) -> InstanceTypeDef:
    with aws_call("DescribeInstances", instance_id):
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return reservations[0]["Instances"][0]


def wait_running(ec2: EC2Client, instance_id: str, waits: Waits) -> InstanceTypeDef:
    """The running instance, from the waiter's last DescribeInstances (no extra describe call)."""
    last = wait(ec2, "instance_running", resource=instance_id, wanted="running", timeout=waits.instance,
                **waits.args("instance_running"), InstanceIds=[instance_id])
    reservations: list[ReservationTypeDef] = last.get("Reservations", [])  # a DescribeInstances answer
    for reservation in reservations:
        for instance in reservation.get("Instances", []):
            if instance.get("InstanceId") == instance_id:
                return instance
    return describe_instance(ec2, instance_id)


def stop_instance(ec2: EC2Client, instance_id: str, waits: Waits) -> None:
    with aws_call("StopInstances", instance_id):
        ec2.stop_instances(InstanceIds=[instance_id])
    wait(ec2, "instance_stopped", resource=instance_id, wanted="stopped", timeout=waits.stop,
         **waits.args("instance_stopped"), InstanceIds=[instance_id])


def terminate_instance(ec2: EC2Client, instance_id: str, waits: Waits, *, wait_gone: bool = True) -> None:
    """Terminate and wait until it is gone, so its volumes and security group can go too (with
    `wait_gone=False`, return once EC2 took the request: whoever needs it gone waits later).

    An instance we just launched may be unknown to TerminateInstances for a moment (eventual
    consistency), while it runs: its NotFound is retried (`retry_not_found`). If NotFound lasts the
    whole `waits.not_found`, DescribeInstances must agree before the instance is taken for gone:
    NotFound there too, or terminated. Gone means the InstanceGone waiter saw `terminated`.
    """

    def terminate() -> None:
        with aws_call("TerminateInstances", instance_id):
            ec2.terminate_instances(InstanceIds=[instance_id])

    try:
        retry_not_found(terminate, ("InvalidInstanceID.NotFound",), waits)
    except AwsError as exc:
        if exc.code != "InvalidInstanceID.NotFound":
            raise
        state = _instance_state(ec2, instance_id)
        if state in (None, "terminated"):
            return
        if state != "shutting-down":
            raise AwsError(
                f"TerminateInstances {instance_id} answered NotFound for {waits.not_found:.0f} s while "
                f"DescribeInstances shows it {state}: it is not taken for gone",
                operation="TerminateInstances", code="InvalidInstanceID.NotFound", resource=instance_id,
            ) from exc
    if wait_gone:
        wait_instance_gone(ec2, instance_id, waits)


def wait_instance_gone(ec2: EC2Client, instance_id: str, waits: Waits) -> None:
    """Wait until a terminating instance is gone."""
    wait(ec2, "instance_gone", resource=instance_id, wanted="terminated", timeout=waits.instance,
         **waits.args("instance_gone"), InstanceIds=[instance_id])


def _instance_state(ec2: EC2Client, instance_id: str) -> str | None:
    """The instance's state name, or None when DescribeInstances does not know it."""
    try:
        with aws_call("DescribeInstances", instance_id):
            reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    except AwsError as exc:
        if exc.code == "InvalidInstanceID.NotFound":
            return None
        raise
    for reservation in reservations:
        for instance in reservation.get("Instances", []):
            return str(instance.get("State", {}).get("Name", ""))
    return None


def wait_snapshots(ec2: EC2Client, snapshot_ids: Sequence[str], waits: Waits) -> None:
    wait(ec2, "snapshot_completed", resource=", ".join(snapshot_ids), wanted="completed",
         timeout=waits.snapshot, **waits.args("snapshot"), SnapshotIds=list(snapshot_ids))


def delete_snapshot(ec2: EC2Client, snapshot_id: str) -> None:
    try:
        with aws_call("DeleteSnapshot", snapshot_id):
            ec2.delete_snapshot(SnapshotId=snapshot_id)
    except AwsError as exc:
        if exc.code != "InvalidSnapshot.NotFound":
            raise


# What an endpoint answers when it does not offer GetInstanceUefiData (or this caller may not use it).
UEFI_DATA_UNAVAILABLE = ("InvalidAction", "UnsupportedOperation", "NotImplemented", "UnknownOperation",
                         "UnauthorizedOperation", "AccessDenied", "AccessDeniedException")


def instance_uefi_data(ec2: EC2Client, instance_id: str) -> str | None:
    """The instance's UEFI variable store (base64, '' when it has none); None when GetInstanceUefiData is
    not available here (an endpoint without the API, or no permission for it)."""
    try:
        with aws_call("GetInstanceUefiData", instance_id):
            return str(ec2.get_instance_uefi_data(InstanceId=instance_id).get("UefiData") or "")
    except ResponseParserError:  # an endpoint that fails on an action it lacks, without an AWS error
        return None
    except AwsError as exc:
        if exc.code in UEFI_DATA_UNAVAILABLE:
            return None
        raise


def wait_image(ec2: EC2Client, image_id: str, waits: Waits) -> ImageTypeDef:
    """Wait until the image is available and return its description (from the waiter's last answer)."""
    answer = wait(ec2, "image_available", resource=image_id, wanted="available", timeout=waits.image,
                  **waits.args("image"), ImageIds=[image_id])
    images: list[ImageTypeDef] = answer.get("Images") or []  # a DescribeImages answer
    return images[0].copy() if images else describe_image(ec2, image_id)


def deregister_image(ec2: EC2Client, image_id: str) -> None:
    try:
        with aws_call("DeregisterImage", image_id):
            ec2.deregister_image(ImageId=image_id)
    except AwsError as exc:
        if exc.code not in ("InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"):
            raise


def delete_volume(ec2: EC2Client, volume_id: str) -> None:
    try:
        with aws_call("DeleteVolume", volume_id):
            ec2.delete_volume(VolumeId=volume_id)
    except AwsError as exc:
        if exc.code != "InvalidVolume.NotFound":
            raise
