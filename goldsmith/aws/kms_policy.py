"""Does a KMS key let another account use an encrypted AMI? Pure evaluation of a key policy and grants.

A consumer account launching a shared encrypted AMI needs kms:Decrypt, kms:CreateGrant and
kms:DescribeKey on the key that encrypts its snapshots (EC2 creates a grant in the consumer's name);
for organizations and OUs AWS documents a statement without CreateGrant, which is accepted.
This module answers "which of those actions does the policy or a grant give this account?" without
calling AWS, so it is tested on plain JSON. It errs on the side of allowing: an Allow statement with
a condition counts (the usual ``kms:GrantIsForAWSResource`` condition is met by EC2), a Deny only
counts when it has no condition, because a preflight that blocks a working setup is worse than one
that misses an exotic denial.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

CONSUMER_ACTIONS = ("kms:Decrypt", "kms:CreateGrant", "kms:DescribeKey")
# What AWS documents for sharing an encrypted AMI with an organization or OU ("Allow organizations and
# OUs to use a KMS key": Describe*, List*, Get*, Encrypt, Decrypt, ReEncrypt*, GenerateDataKey*, no
# CreateGrant): EC2 creates the grant on the consumer's behalf.
ORG_CONSUMER_ACTIONS = ("kms:Decrypt", "kms:DescribeKey")
_ORG_ID = re.compile(r"o-[a-z0-9]{10,32}")
_OU_ID = re.compile(r"ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}")
_ACCOUNT_IN_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):")


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _action_matches(patterns: Iterable[str], action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), str(p).lower()) for p in patterns)


def _statement_actions(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not _action_matches(_as_list(statement["NotAction"]), action)
    return _action_matches(_as_list(statement.get("Action")), action)


def _principals(statement: Mapping[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"]
    if isinstance(principal, Mapping):
        return [str(p) for p in _as_list(principal.get("AWS"))]
    return []


def principal_account(principal: str) -> str | None:
    """The account of an IAM principal ('123456789012' or 'arn:aws:iam::123456789012:root/role/...')."""
    if re.fullmatch(r"\d{12}", principal):
        return principal
    found = _ACCOUNT_IN_ARN.match(principal)
    return found.group(1) if found else None


def _condition_values(statement: Mapping[str, Any], key: str) -> list[str]:
    values: list[str] = []
    for operator_block in (statement.get("Condition") or {}).values():
        if isinstance(operator_block, Mapping):
            for name, value in operator_block.items():
                if str(name).lower() == key.lower():
                    values += [str(v) for v in _as_list(value)]
    return values


def _names_account(statement: Mapping[str, Any], account: str) -> bool:
    """The statement's principal is the account (its root, the bare id, or a role/user in it)."""
    return any(principal_account(p) == account for p in _principals(statement))


def _names_org(statement: Mapping[str, Any], org_id: str, ou_id: str | None) -> bool:
    """Principal '*' restricted to the organization (aws:PrincipalOrgID) or to a path through the OU."""
    if "*" not in _principals(statement):
        return False
    if org_id in _condition_values(statement, "aws:PrincipalOrgID"):
        return True
    paths = _condition_values(statement, "aws:PrincipalOrgPaths")
    return ou_id is not None and any(org_id in p and ou_id in p for p in paths)


def _evaluate(statements: Sequence[Mapping[str, Any]], names: Any, actions: Sequence[str]) -> set[str]:
    """The actions some Allow statement names gives, minus those an unconditional Deny takes back."""
    allowed: set[str] = set()
    for action in actions:
        applicable = [s for s in statements if names(s) and _statement_actions(s, action)]
        denied = any(s.get("Effect") == "Deny" and not s.get("Condition") for s in applicable)
        if not denied and any(s.get("Effect") == "Allow" for s in applicable):
            allowed.add(action)
    return allowed


def _statements(policy: str | Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    if not policy:
        return []
    data = json.loads(policy) if isinstance(policy, str) else policy
    return [s for s in _as_list(data.get("Statement")) if isinstance(s, Mapping)]


def _granted(grants: Sequence[Mapping[str, Any]], account: str) -> set[str]:
    """Actions grants give to a principal of the account (operations are named without 'kms:')."""
    allowed: set[str] = set()
    for grant in grants:
        if principal_account(str(grant.get("GranteePrincipal", ""))) == account:
            allowed |= {f"kms:{op}" for op in _as_list(grant.get("Operations"))}
    return allowed


def missing_for_account(policy: str | Mapping[str, Any] | None, grants: Sequence[Mapping[str, Any]],
                        account: str, actions: Sequence[str] = CONSUMER_ACTIONS) -> list[str]:
    """The actions the account still lacks on the key, in the order asked; [] when it may use it."""
    statements = _statements(policy)
    allowed = _evaluate(statements, lambda s: _names_account(s, account), actions) | _granted(grants, account)
    return [a for a in actions if a not in allowed]


def missing_for_org(policy: str | Mapping[str, Any] | None, arn: str,
                    actions: Sequence[str] = CONSUMER_ACTIONS) -> list[str]:
    """Same for an organization or OU ARN: an Allow to '*' conditioned on its org id or OU path."""
    org = _ORG_ID.search(arn)
    if org is None:
        return list(actions)
    ou = _OU_ID.search(arn)
    statements = _statements(policy)
    names = lambda s: _names_org(s, org.group(0), ou.group(0) if ou else None)  # noqa: E731
    allowed = _evaluate(statements, names, actions)
    return [a for a in actions if a not in allowed]
