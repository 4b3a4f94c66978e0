"""KMS keys of another account, as AWS serves them (moto 5.2.5 looks every key up in the caller's account).

AWS: DescribeKey and ListGrants accept the key ARN of another account ("Cross-account use: Yes") when that
key's policy lets the caller's account perform them; GetKeyPolicy does not work across accounts ("Cross-account
use: No"). moto answers NotFoundException for any key of another account. The sandbox's keys of other
accounts are made the way moto offers (the ``x-moto-account-id`` header), e.g. a consumer's or a central
security account's key.

Which error AWS gives for GetKeyPolicy on another account's key is not documented; the sandbox answers
AccessDeniedException, saying the operation does not work across accounts.
"""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any

from moto.kms.exceptions import AccessDeniedException, NotFoundException
from moto.kms.models import kms_backends
from moto.kms.responses import KmsResponse

_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):key/(.+)$")


def _other_account_key(self: KmsResponse) -> tuple[str, Any] | None:
    """(owner account, key) when KeyId is the ARN of a key of another account than the caller's."""
    found = _KEY_ARN.match(str(self._get_param("KeyId") or ""))
    if found is None or found.group(2) == self.current_account:
        return None
    region, account, key_id = found.groups()
    key = kms_backends[account][region].keys.get(key_id)
    if key is None:
        raise NotFoundException(f"Key '{self._get_param('KeyId')}' does not exist")
    return account, key


def policy_allows(policy: str, account: str, action: str) -> bool:
    """An Allow statement of the key policy names the account (its root, the id, or '*') for the action, and
    no Deny does: the part of KMS's evaluation a cross-account caller depends on."""
    names = {"*", account, f"arn:aws:iam::{account}:root"}
    allowed = False
    for statement in json.loads(policy or "{}").get("Statement", []):
        principal = statement.get("Principal")
        aws = principal if principal == "*" else (principal or {}).get("AWS", [])
        principals = {aws} if isinstance(aws, str) else set(aws)
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if principals & names and any(fnmatch.fnmatchcase(action, a) for a in actions):
            if statement.get("Effect") == "Deny":
                return False
            allowed = True
    return allowed


def _check(self: KmsResponse, key: Any, action: str) -> None:
    if not policy_allows(key.policy, self.current_account, action):
        raise AccessDeniedException(
            f"User: arn:aws:iam::{self.current_account}:root is not authorized to perform: {action} on resource: "
            f"{key.arn} because no resource-based policy allows the {action} action")


def _describe_key(self: KmsResponse) -> str:
    other = _other_account_key(self)
    if other is None:
        return _orig_describe_key(self)
    _check(self, other[1], "kms:DescribeKey")
    return json.dumps(other[1].to_dict())


def _list_grants(self: KmsResponse) -> str:
    other = _other_account_key(self)
    if other is None:
        return _orig_list_grants(self)
    _check(self, other[1], "kms:ListGrants")
    grants = other[1].list_grants(self._get_param("GrantId"))
    return json.dumps({"Grants": [g.to_json() for g in grants], "GrantCount": len(grants), "Truncated": False})


def _get_key_policy(self: KmsResponse) -> str:
    other = _other_account_key(self)
    if other is None:
        return _orig_get_key_policy(self)
    raise AccessDeniedException(f"GetKeyPolicy does not work across accounts: {other[1].arn} belongs to account "
                                f"{other[0]}, not {self.current_account}")


_orig_describe_key = KmsResponse.describe_key
_orig_list_grants = KmsResponse.list_grants
_orig_get_key_policy = KmsResponse.get_key_policy


def install() -> None:
    """Patch moto's KMS API (called once by moto_fixes.apply_all)."""
    KmsResponse.describe_key = _describe_key  # type: ignore[method-assign]
    KmsResponse.list_grants = _list_grants  # type: ignore[method-assign]
    KmsResponse.get_key_policy = _get_key_policy  # type: ignore[method-assign]
