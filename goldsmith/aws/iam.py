"""Who is calling, and what IAM lets them do: STS GetCallerIdentity and IAM SimulatePrincipalPolicy.

The simulation sees the identity's own IAM policies (inline, managed, groups', permissions boundary),
not service control policies or the KMS key policies EC2 meets on our behalf: an action it denies is
certainly denied; one it allows can still be refused later, and that refusal is then named too
(`goldsmith.aws.calls`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from goldsmith.aws.calls import aws_call
from goldsmith.errors import AwsError

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_iam.type_defs import ContextEntryTypeDef
    from mypy_boto3_sts import STSClient

_USER = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:user/")
_ASSUMED_ROLE = re.compile(r"^arn:aws[a-z-]*:sts::\d{12}:assumed-role/([^/]+)/")


@dataclass(frozen=True)
class Identity:
    """The caller, as GetCallerIdentity names it."""

    account: str
    arn: str


def caller_identity(sts: STSClient) -> Identity:
    """GetCallerIdentity needs no permission: it always answers for valid credentials."""
    with aws_call("GetCallerIdentity"):
        found = sts.get_caller_identity()
    return Identity(account=str(found["Account"]), arn=str(found["Arn"]))


def simulation_source(iam: IAMClient, identity: Identity) -> str | None:
    """The ARN SimulatePrincipalPolicy takes for the caller: a user's own ARN, or the role behind an assumed-role
    session (its path only IAM knows: GetRole); None for identities IAM cannot simulate (root, federated)."""
    if _USER.match(identity.arn):
        return identity.arn
    found = _ASSUMED_ROLE.match(identity.arn)
    if found is None:
        return None
    with aws_call("GetRole", found.group(1)):
        return str(iam.get_role(RoleName=found.group(1))["Role"]["Arn"])


def denied_actions(iam: IAMClient, source_arn: str, actions: Sequence[str],
                   context: Mapping[str, str] | None = None) -> list[str]:
    """The actions (of `actions`, in that order) the identity's policies do not allow on any resource.

    `context` gives condition keys AWS sets when it calls for us (kms:ViaService, iam:PassedToService), so
    statements conditioned on them are judged as they will be."""
    entries: list[ContextEntryTypeDef] = [
        {"ContextKeyName": key, "ContextKeyValues": [value], "ContextKeyType": "string"}
        for key, value in (context or {}).items()]
    decisions: dict[str, str] = {}
    with aws_call("SimulatePrincipalPolicy", source_arn):
        pages = iam.get_paginator("simulate_principal_policy").paginate(
            PolicySourceArn=source_arn, ActionNames=list(actions), ContextEntries=entries)
        for page in pages:
            for result in page.get("EvaluationResults", []):
                decisions[str(result["EvalActionName"])] = str(result["EvalDecision"])
    missing = [a for a in actions if a not in decisions]
    if missing:
        raise AwsError(f"SimulatePrincipalPolicy {source_arn} answered nothing for {', '.join(missing)}",
                       operation="SimulatePrincipalPolicy", resource=source_arn)
    return [a for a in actions if decisions[a] != "allowed"]
