"""Key policy and grant evaluation for consumers of a shared encrypted AMI (pure, no AWS)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from goldsmith.aws.kms_policy import CONSUMER_ACTIONS, missing_for_account, missing_for_org, principal_account

OWNER, CONSUMER, OTHER = "111111111111", "222222222222", "333333333333"
ORG = "arn:aws:organizations::111111111111:organization/o-abcde12345"
OU = "arn:aws:organizations::111111111111:ou/o-abcde12345/ou-ab12-cdef3456"


def policy(*statements: dict[str, Any]) -> str:
    root = {"Sid": "owner", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OWNER}:root"},
            "Action": "kms:*", "Resource": "*"}
    return json.dumps({"Version": "2012-10-17", "Statement": [root, *statements]})


def allow(principal: Any, actions: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal, "Action": actions, "Resource": "*", **extra}


@pytest.mark.parametrize("principal", [
    {"AWS": f"arn:aws:iam::{CONSUMER}:root"},
    {"AWS": CONSUMER},
    {"AWS": [f"arn:aws:iam::{OTHER}:root", f"arn:aws:iam::{CONSUMER}:role/launcher"]},
])
def test_an_account_named_in_any_form_is_allowed(principal: dict[str, Any]) -> None:
    p = policy(allow(principal, ["kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant"]))
    assert missing_for_account(p, [], CONSUMER) == []


def test_the_default_policy_only_serves_the_owner() -> None:
    assert missing_for_account(policy(), [], OWNER) == []
    assert missing_for_account(policy(), [], CONSUMER) == list(CONSUMER_ACTIONS)


def test_wildcards_and_split_statements_add_up() -> None:
    p = policy(allow({"AWS": CONSUMER}, "kms:De*"),
               allow({"AWS": CONSUMER}, "kms:CreateGrant", Condition={"Bool": {"kms:GrantIsForAWSResource": True}}))
    assert missing_for_account(p, [], CONSUMER) == []
    assert missing_for_account(policy(allow({"AWS": CONSUMER}, "kms:*")), [], CONSUMER) == []
    assert missing_for_account(policy(allow({"AWS": CONSUMER}, "kms:Decrypt")), [], CONSUMER) == [
        "kms:CreateGrant", "kms:DescribeKey"]


def test_an_unconditional_deny_wins_a_conditional_one_does_not() -> None:
    grant_all = allow({"AWS": CONSUMER}, "kms:*")
    deny = {"Effect": "Deny", "Principal": {"AWS": CONSUMER}, "Action": "kms:CreateGrant", "Resource": "*"}
    assert missing_for_account(policy(grant_all, deny), [], CONSUMER) == ["kms:CreateGrant"]
    conditional = {**deny, "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    assert missing_for_account(policy(grant_all, conditional), [], CONSUMER) == []


def test_not_action_and_another_account_do_not_leak() -> None:
    p = policy(allow({"AWS": OTHER}, "kms:*"))
    assert missing_for_account(p, [], CONSUMER) == list(CONSUMER_ACTIONS)
    not_action = {"Effect": "Allow", "Principal": {"AWS": CONSUMER}, "NotAction": ["kms:CreateGrant"], "Resource": "*"}
    assert missing_for_account(policy(not_action), [], CONSUMER) == ["kms:CreateGrant"]


def test_grants_count_like_policy_statements() -> None:
    grants = [{"GranteePrincipal": f"arn:aws:iam::{CONSUMER}:root", "Operations": ["Decrypt", "DescribeKey"]},
              {"GranteePrincipal": f"arn:aws:iam::{OTHER}:root", "Operations": ["CreateGrant"]}]
    assert missing_for_account(policy(), grants, CONSUMER) == ["kms:CreateGrant"]
    grants.append({"GranteePrincipal": CONSUMER, "Operations": ["CreateGrant"]})
    assert missing_for_account(policy(), grants, CONSUMER) == []


def test_organizations_and_ous_need_an_org_condition() -> None:
    by_org = allow("*", "kms:*", Condition={"StringEquals": {"aws:PrincipalOrgID": "o-abcde12345"}})
    assert missing_for_org(policy(by_org), ORG) == []
    assert missing_for_org(policy(by_org), OU) == []
    by_path = allow({"AWS": "*"}, list(CONSUMER_ACTIONS), Condition={
        "ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": ["o-abcde12345/r-ab12/ou-ab12-cdef3456/*"]}})
    assert missing_for_org(policy(by_path), OU) == []
    assert missing_for_org(policy(by_path), ORG) == list(CONSUMER_ACTIONS)
    anyone_unconditioned_is_not_the_org = allow("*", "kms:*")
    assert missing_for_org(policy(anyone_unconditioned_is_not_the_org), ORG) == list(CONSUMER_ACTIONS)


def test_principal_account() -> None:
    assert principal_account("arn:aws:iam::123456789012:root") == "123456789012"
    assert principal_account("arn:aws-us-gov:iam::123456789012:role/x") == "123456789012"
    assert principal_account("123456789012") == "123456789012"
    assert principal_account("ec2.amazonaws.com") is None
