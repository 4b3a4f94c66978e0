"""`invoke share`: grant or remove launch (and snapshot) permissions on an existing AMI, idempotently.

Everything the user asked is checked before the first call that changes anything: ids well formed,
"all accounts" only through the explicit public flag, and for an encrypted AMI shared with other
accounts, a key they may use. The current permissions are read first and only the difference is
sent, so sharing twice changes nothing and the second run makes no Modify* call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from goldsmith.aws import ec2 as ec2ops
from goldsmith.aws import images, kms, sharing
from goldsmith.errors import InputError
from goldsmith.recipe import formats

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import LaunchPermissionTypeDef

    from goldsmith.aws.session import Aws

_EVERYONE = {"all", "*", "everyone", "public", "group:all"}


@dataclass(frozen=True)
class ShareSpec:
    """Who gets (or loses) access. `public` is the only way to say 'every AWS account'."""

    accounts: tuple[str, ...] = ()
    organizations: tuple[str, ...] = ()
    ous: tuple[str, ...] = ()
    snapshots: bool = False
    public: bool = False

    def launch_entries(self) -> list[LaunchPermissionTypeDef]:
        return sharing.launch_permission_entries(self.accounts, self.organizations, self.ous, self.public)


def share_spec(accounts: Sequence[str], organizations: Sequence[str], ous: Sequence[str], *,
               snapshots: bool = False, public: bool = False) -> ShareSpec:
    """Check the CLI's lists; every problem at once, as an InputError (exit 2), before any AWS call."""
    problems: list[str] = []
    for value in [*accounts, *organizations, *ous]:
        if value.strip().lower() in _EVERYONE:
            problems.append(f"'{value}' would share with every AWS account: that needs the explicit --public "
                            "flag (and nothing else)")
    for value in accounts:
        if value.strip().lower() not in _EVERYONE and not formats.ACCOUNT_RE.fullmatch(value):
            problems.append(f"--account {value!r} is not an AWS account id (12 digits)")
    for value in organizations:
        if value.strip().lower() not in _EVERYONE and not formats.ORG_RE.fullmatch(value):
            problems.append(f"--org {value!r} is not an organization ARN "
                            "(like arn:aws:organizations::123456789012:organization/o-abcde12345)")
    for value in ous:
        if value.strip().lower() not in _EVERYONE and not formats.OU_RE.fullmatch(value):
            problems.append(f"--ou {value!r} is not an OU ARN "
                            "(like arn:aws:organizations::123456789012:ou/o-abcde12345/ou-ab12-cdef3456)")
    if not (accounts or organizations or ous or public):
        problems.append("say who: --account, --org, --ou (repeatable) or --public")
    if snapshots and not accounts and not public:
        problems.append("--snapshots shares snapshots with --account ids only (or with everyone, --public)")
    if problems:
        raise InputError("share: " + "; ".join(problems) + ". Nothing was changed.")
    return ShareSpec(tuple(dict.fromkeys(accounts)), tuple(dict.fromkeys(organizations)),
                     tuple(dict.fromkeys(ous)), snapshots, public)


@dataclass
class ShareResult:
    image_id: str
    region: str
    launch_changed: list[LaunchPermissionTypeDef] = field(default_factory=list)
    snapshots_changed: dict[str, list[str]] = field(default_factory=dict)  # snapshot -> accounts/'all'
    warnings: list[str] = field(default_factory=list)  # what could not be checked (another account's key)

    @property
    def changed(self) -> bool:
        return bool(self.launch_changed or self.snapshots_changed)


def _snapshot_targets(ec2: EC2Client, snapshot_id: str, spec: ShareSpec, remove: bool) -> tuple[list[str], bool]:
    """(accounts to change, whether to change Group all) for one snapshot, given what it has now."""
    current = sharing.snapshot_permissions(ec2, snapshot_id)
    users = {p["UserId"] for p in current if "UserId" in p}
    public_now = any(p.get("Group") == "all" for p in current)
    accounts = [a for a in spec.accounts if (a in users) == remove]
    return accounts, spec.public and public_now == remove


def share_image(aws: Aws, region: str, image_id: str, spec: ShareSpec, *, remove: bool = False) -> ShareResult:
    """Add (or remove) exactly the asked permissions that are missing (or present)."""
    ec2 = aws.ec2(region)
    image = ec2ops.describe_image(ec2, image_id)
    warnings: list[str] = []
    if not remove:
        consumers = [*spec.accounts, *spec.organizations, *spec.ous]
        if spec.public and images.image_keys(ec2, image):
            raise InputError(f"{image_id} is encrypted, and encrypted AMIs cannot be made public.")
        for key in sorted(images.image_keys(ec2, image)) if consumers else []:
            info = kms.describe_key(aws.kms(region), key, region, field=f"{image_id} snapshot key")
            warnings += kms.check_consumers(aws.kms(region), info, accounts=spec.accounts,
                                            organizations=spec.organizations, ous=spec.ous,
                                            field=f"{image_id} snapshot key",
                                            caller_account=lambda: aws.identity().account)
    current = sharing.launch_permissions(ec2, image_id)
    change = [e for e in spec.launch_entries() if (e in current) == remove]
    result = ShareResult(image_id, region, warnings=warnings)
    if change:
        if remove:
            sharing.remove_launch_permissions(ec2, image_id, change)
        else:
            named = [e for e in change if e != sharing.PUBLIC]
            sharing.add_launch_permissions(ec2, image_id, named, public=sharing.PUBLIC in change)
        result.launch_changed = change
    if spec.snapshots:
        for snapshot_id in sorted(set(ec2ops.snapshots_by_device(image).values())):
            accounts, group = _snapshot_targets(ec2, snapshot_id, spec, remove)
            sharing.change_snapshot_permissions(ec2, snapshot_id, accounts, public=group, remove=remove)
            if accounts or group:
                result.snapshots_changed[snapshot_id] = [*accounts, *(["all"] if group else [])]
    return result
