"""A KMS key another account owns (a central security account's, say): DescribeKey and ListGrants work across
accounts when its key policy allows them, GetKeyPolicy does not. The sharing preflight checks what it can and
warns instead of failing. The sandbox keeps other accounts' keys as moto does (x-moto-account-id) and serves
them as AWS does (goldsmith/sandbox/moto_fixes_kms.py)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from goldsmith.aws import kms
from goldsmith.aws.session import Aws
from goldsmith.errors import AwsError, PreflightError
from goldsmith.targets.sandbox import SandboxTarget
from tests.sandbox.helpers import aws_keys

pytestmark = pytest.mark.sandbox

OWNER = "210987654321"  # the account that owns the key
CONSUMER = "444455556666"


def owner_kms(sandbox: Any) -> Any:
    client = boto3.client("kms", region_name="us-east-1", endpoint_url=sandbox.gateway_url, **aws_keys(sandbox))
    client.meta.events.register("before-sign.kms.*", lambda request, **_: request.headers.__setitem__(
        "x-moto-account-id", OWNER))
    return client


def other_accounts_key(sandbox: Any, caller: str, *, allow_caller: bool = True) -> str:
    """A key of OWNER whose policy lets the caller's account describe it and list its grants (or not)."""
    statements: list[dict[str, Any]] = [{"Sid": "owner", "Effect": "Allow", "Action": "kms:*", "Resource": "*",
                                         "Principal": {"AWS": f"arn:aws:iam::{OWNER}:root"}}]
    if allow_caller:
        statements.append({"Sid": "builder", "Effect": "Allow", "Resource": "*",
                           "Principal": {"AWS": f"arn:aws:iam::{caller}:root"},
                           "Action": ["kms:DescribeKey", "kms:ListGrants", "kms:CreateGrant", "kms:Decrypt"]})
    meta = owner_kms(sandbox).create_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    return str(meta["KeyMetadata"]["Arn"])


@pytest.fixture
def aws(sandbox: Any) -> Aws:
    return Aws(SandboxTarget(state_dir=sandbox.state_dir, region="us-east-1").aws_settings())


def test_a_key_of_another_account_is_checked_as_far_as_aws_allows_and_warned_about(
    sandbox: Any, aws: Aws
) -> None:
    caller = aws.identity().account
    arn = other_accounts_key(sandbox, caller)
    client = aws.kms("us-east-1")
    info = kms.describe_key(client, arn, "us-east-1", field="image.encrypt.kms_key")  # works across accounts
    assert kms.key_account(info) == OWNER != caller
    with pytest.raises(AwsError, match="GetKeyPolicy"):  # what the preflight did before: fail on it
        kms.check_consumers(client, info, accounts=[CONSUMER], field="image.encrypt.kms_key")
    warnings = kms.check_consumers(client, info, accounts=[CONSUMER], field="image.encrypt.kms_key",
                                   caller_account=lambda: caller)
    assert len(warnings) == 1
    assert OWNER in warnings[0] and CONSUMER in warnings[0] and "GetKeyPolicy does not work across accounts" \
        in warnings[0]


def test_grants_of_another_accounts_key_are_read_and_settle_it(sandbox: Any, aws: Aws) -> None:
    caller = aws.identity().account
    arn = other_accounts_key(sandbox, caller)
    owner_kms(sandbox).create_grant(KeyId=arn, GranteePrincipal=f"arn:aws:iam::{CONSUMER}:root",
                                    Operations=["Decrypt", "CreateGrant", "DescribeKey"])
    client = aws.kms("us-east-1")
    info = kms.describe_key(client, arn, "us-east-1", field="f")
    assert kms.check_consumers(client, info, accounts=[CONSUMER], field="f", caller_account=lambda: caller) == []
    ou = "arn:aws:organizations::111122223333:ou/o-abcde12345/ou-ab12-cdef3456"
    (warning,) = kms.check_consumers(client, info, accounts=[CONSUMER], ous=[ou], field="f",
                                     caller_account=lambda: caller)
    assert ou in warning and CONSUMER not in warning


def test_a_key_of_another_account_that_does_not_let_us_see_it_is_an_error(sandbox: Any, aws: Aws) -> None:
    arn = other_accounts_key(sandbox, aws.identity().account, allow_caller=False)
    with pytest.raises(PreflightError, match="AccessDeniedException"):
        kms.describe_key(aws.kms("us-east-1"), arn, "us-east-1", field="image.encrypt.kms_key")
