"""KMS keys for encrypted AMIs: find a key, check it can encrypt EBS, and that consumers may use it.

Every problem is a PreflightError (exit 2) naming the key, its region and what to change, because
these checks run before anything is launched.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from goldsmith.aws.calls import aws_call
from goldsmith.aws.kms_policy import (
    CONSUMER_ACTIONS,
    ORG_CONSUMER_ACTIONS,
    missing_for_account,
    missing_for_org,
)
from goldsmith.errors import AwsError, PreflightError

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_kms.literals import (
        CustomerMasterKeySpecType,
        KeyManagerTypeType,
        KeySpecType,
        KeyStateType,
        KeyUsageTypeType,
    )
    from mypy_boto3_kms.type_defs import GrantListEntryTypeDef, ListGrantsRequestTypeDef

_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:kms:([a-z0-9-]+):\d{12}:(key|alias)/")
_ARN_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:(\d{12}):")


@dataclass(frozen=True)
class KeyInfo:
    """What DescribeKey said about a key, and how the recipe named it."""

    given: str
    region: str
    arn: str
    key_id: str
    state: KeyStateType
    manager: KeyManagerTypeType
    usage: KeyUsageTypeType = "ENCRYPT_DECRYPT"
    spec: KeySpecType | CustomerMasterKeySpecType = "SYMMETRIC_DEFAULT"

    @property
    def label(self) -> str:
        return self.given if self.given == self.arn else f"{self.given} ({self.arn})"

    @property
    def aws_managed(self) -> bool:
        """AWS managed keys (aws/ebs and friends) cannot be used by other accounts."""
        return self.manager == "AWS" or self.given.startswith("alias/aws/") or ":alias/aws/" in self.given


def key_account(info: KeyInfo) -> str | None:
    """The account that owns the key (from its ARN)."""
    found = _ARN_ACCOUNT.match(info.arn)
    return found.group(1) if found else None


def arn_region(key: str) -> str | None:
    found = _ARN_REGION.match(key)
    return found.group(1) if found else None


def describe_key(kms: KMSClient, key: str, region: str, *, field: str) -> KeyInfo:
    """The key as DescribeKey sees it in `region`; a missing key or one of another region is an error."""
    elsewhere = arn_region(key)
    if elsewhere and elsewhere != region:
        raise PreflightError(
            f"{field}: KMS key {key} is in {elsewhere}, but it must be in {region}: "
            f"give a key of {region} (KMS keys do not cross regions)."
        )
    try:
        with aws_call("DescribeKey", key):
            meta = kms.describe_key(KeyId=key)["KeyMetadata"]
    except AwsError as exc:
        if exc.code in ("NotFoundException", "InvalidArnException", "AccessDeniedException"):
            raise PreflightError(
                f"{field}: KMS key {key} does not exist in {region} (or this account may not see it: "
                f"{exc.code}): create it there or fix the name."
            ) from exc
        raise
    info = KeyInfo(given=key, region=region, arn=str(meta["Arn"]), key_id=str(meta["KeyId"]),
                   state=meta.get("KeyState", "Enabled" if meta.get("Enabled") else "Disabled"),
                   manager=meta.get("KeyManager", "CUSTOMER"),
                   usage=meta.get("KeyUsage", "ENCRYPT_DECRYPT"),
                   spec=meta.get("KeySpec", meta.get("CustomerMasterKeySpec", "SYMMETRIC_DEFAULT")))
    check_usable(info, field=field)
    return info


def check_usable(info: KeyInfo, *, field: str) -> None:
    """Enabled, in the right region, and a symmetric encryption key (the only kind EBS uses)."""
    if arn_region(info.arn) not in (None, info.region):
        raise PreflightError(f"{field}: KMS key {info.label} is not in {info.region}: give a key of {info.region}.")
    if info.state != "Enabled":
        raise PreflightError(
            f"{field}: KMS key {info.label} in {info.region} is {info.state}, not Enabled: enable it "
            f"(aws kms enable-key --key-id {info.key_id}) or choose another key."
        )
    if info.usage != "ENCRYPT_DECRYPT" or info.spec != "SYMMETRIC_DEFAULT":
        raise PreflightError(
            f"{field}: KMS key {info.label} is a {info.spec} {info.usage} key; EBS needs a symmetric "
            "encryption key (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT)."
        )


def key_policy(kms: KMSClient, info: KeyInfo) -> str:
    with aws_call("GetKeyPolicy", info.arn):
        return str(kms.get_key_policy(KeyId=info.key_id, PolicyName="default")["Policy"])


def key_grants(kms: KMSClient, info: KeyInfo) -> list[GrantListEntryTypeDef]:
    grants: list[GrantListEntryTypeDef] = []
    marker: str | None = None
    while True:
        params: ListGrantsRequestTypeDef = {"KeyId": info.arn}  # the ARN: another account's key needs it
        if marker:
            params["Marker"] = marker
        with aws_call("ListGrants", info.arn):
            page = kms.list_grants(**params)
        grants += page.get("Grants", [])
        marker = page.get("NextMarker")
        if not page.get("Truncated") or not marker:
            return grants


def check_consumers(kms: KMSClient, info: KeyInfo, *, accounts: Sequence[str], organizations: Sequence[str] = (),
                    ous: Sequence[str] = (), field: str, caller_account: Callable[[], str] | None = None) -> list[str]:
    """Other accounts can launch an AMI encrypted with this key only if the key lets them use it. Returns
    warnings for what could not be checked: the key policy of a key another account owns (`caller_account`
    tells whose credentials these are; GetKeyPolicy does not work across accounts)."""
    consumers = [*accounts, *organizations, *ous]
    if not consumers:
        return []
    if info.aws_managed:
        raise PreflightError(
            f"{field}: KMS key {info.label} is an AWS managed key (like aws/ebs), which cannot be shared, "
            f"so {', '.join(consumers)} could not launch the AMI: use a customer managed key whose policy "
            "allows them kms:Decrypt, kms:CreateGrant and kms:DescribeKey."
        )
    owner = key_account(info)
    if caller_account is not None and owner is not None and owner != caller_account():
        return _check_other_accounts_key(kms, info, owner, accounts, [*organizations, *ous], field)
    policy = key_policy(kms, info)
    grants = key_grants(kms, info) if accounts else []
    lacking: list[str] = []
    for account in accounts:
        missing = missing_for_account(policy, grants, account)
        if missing:
            lacking.append(f"{account} (missing {', '.join(missing)})")
    for arn in [*organizations, *ous]:
        missing = missing_for_org(policy, arn, ORG_CONSUMER_ACTIONS)
        if missing:
            lacking.append(f"{arn} (missing {', '.join(missing)})")
    if lacking:
        raise PreflightError(
            f"{field}: KMS key {info.label} in {info.region} does not let these consumers use it: "
            f"{'; '.join(lacking)}. Add a key policy statement allowing {', '.join(CONSUMER_ACTIONS)} to "
            "each account (arn:aws:iam::ACCOUNT:root), or create grants; for organizations and OUs, allow "
            f"{', '.join(ORG_CONSUMER_ACTIONS)} to '*' with aws:PrincipalOrgID / aws:PrincipalOrgPaths."
        )
    return []


def _check_other_accounts_key(kms: KMSClient, info: KeyInfo, owner: str, accounts: Sequence[str],
                              orgs: Sequence[str], field: str) -> list[str]:
    """A key of another account: DescribeKey already answered; its grants can be listed (ListGrants works across
    accounts), its key policy cannot be read. Consumers no grant covers are a warning, not an error: the policy
    may well let them."""
    try:
        grants = key_grants(kms, info) if accounts else []
    except AwsError as exc:
        return [f"{field}: could not list the grants of KMS key {info.label}, which account {owner} owns "
                f"({exc.code or exc}); check yourself that {', '.join([*accounts, *orgs])} may use it."]
    unsure = [a for a in accounts if missing_for_account(None, grants, a)] + list(orgs)
    if not unsure:
        return []
    return [f"{field}: KMS key {info.label} belongs to account {owner}, whose key policy cannot be read from this "
            f"account (GetKeyPolicy does not work across accounts), and no grant covers {', '.join(unsure)}: make "
            f"sure its policy allows them {', '.join(CONSUMER_ACTIONS)} (organizations and OUs: "
            f"{', '.join(ORG_CONSUMER_ACTIONS)}), or they cannot launch the AMI."]
