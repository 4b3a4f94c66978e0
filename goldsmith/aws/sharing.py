"""Launch permissions on images and create-volume permissions on their snapshots."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from goldsmith.aws.calls import aws_call
from goldsmith.errors import InputError

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import (
        CreateVolumePermissionTypeDef,
        LaunchPermissionTypeDef,
        ModifySnapshotAttributeRequestTypeDef,
    )

PUBLIC: LaunchPermissionTypeDef = {"Group": "all"}


def refuse_public(entries: Sequence[LaunchPermissionTypeDef], public: bool) -> None:
    """`Group: all` makes an image public; it is granted only when asked for explicitly (share.public)."""
    if not public and any(e.get("Group") == "all" or e.get("UserId") == "all" for e in entries):
        raise InputError("Refusing to make the image public (Group: all): set share.public: true "
                         "(or pass --public) if that is really wanted.")


def launch_permission_entries(
    accounts: Sequence[str], organizations: Sequence[str], ous: Sequence[str], public: bool = False
) -> list[LaunchPermissionTypeDef]:
    entries: list[LaunchPermissionTypeDef] = [{"UserId": a} for a in accounts]
    entries += [{"OrganizationArn": o} for o in organizations]
    entries += [{"OrganizationalUnitArn": u} for u in ous]
    if public:
        entries.append({"Group": "all"})
    return entries


def grantee(entry: LaunchPermissionTypeDef) -> str:
    """Who one launch permission entry names (an account, organization, OU, or 'all')."""
    return str(next(iter(entry.values())))


def add_launch_permissions(ec2: EC2Client, image_id: str, entries: Sequence[LaunchPermissionTypeDef], *,
                           public: bool = False) -> None:
    """Grant launch permissions to the accounts, organizations and OUs in `entries`, and to every account
    (`Group: all`) only with public=True: `entries` themselves may never say "everyone" (refused)."""
    refuse_public(entries, public=False)
    wanted = [*entries, PUBLIC] if public else list(entries)
    if not wanted:
        return
    with aws_call("ModifyImageAttribute", image_id):
        ec2.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": wanted})


def remove_launch_permissions(ec2: EC2Client, image_id: str, entries: Sequence[LaunchPermissionTypeDef]) -> None:
    if not entries:
        return
    with aws_call("ModifyImageAttribute", image_id):
        ec2.modify_image_attribute(ImageId=image_id, LaunchPermission={"Remove": list(entries)})


def launch_permissions(ec2: EC2Client, image_id: str) -> list[LaunchPermissionTypeDef]:
    with aws_call("DescribeImageAttribute", image_id):
        resp = ec2.describe_image_attribute(ImageId=image_id, Attribute="launchPermission")
    return list(resp.get("LaunchPermissions", []))


def snapshot_permissions(ec2: EC2Client, snapshot_id: str) -> list[CreateVolumePermissionTypeDef]:
    with aws_call("DescribeSnapshotAttribute", snapshot_id):
        resp = ec2.describe_snapshot_attribute(SnapshotId=snapshot_id, Attribute="createVolumePermission")
    return list(resp.get("CreateVolumePermissions", []))


def change_snapshot_permissions(ec2: EC2Client, snapshot_id: str, accounts: Sequence[str], *, public: bool = False,
                                remove: bool = False) -> None:
    """Add or remove createVolumePermission for accounts (and Group all when public); nothing when empty."""
    if not accounts and not public:
        return
    params: ModifySnapshotAttributeRequestTypeDef = {"SnapshotId": snapshot_id, "Attribute": "createVolumePermission",
                                                     "OperationType": "remove" if remove else "add"}
    if accounts:
        params["UserIds"] = list(accounts)
    if public:
        params["GroupNames"] = ["all"]
    with aws_call("ModifySnapshotAttribute", snapshot_id):
        ec2.modify_snapshot_attribute(**params)
