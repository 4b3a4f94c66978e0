"""The key policy AWS documents for sharing an encrypted AMI with an organization or OU (no
kms:CreateGrant) passes the preflight's consumer check, on a real key in the moto server."""

from __future__ import annotations

import json

import pytest

from goldsmith.aws import kms
from goldsmith.aws.session import Aws
from goldsmith.errors import PreflightError

ORG = "arn:aws:organizations::123456789012:organization/o-abcde12345"
OU = "arn:aws:organizations::123456789012:ou/o-abcde12345/ou-ab12-cdef3456"
OTHER_ORG = "arn:aws:organizations::123456789012:organization/o-zzzzz99999"
DOCUMENTED = {  # "Allow organizations and OUs to use a KMS key", Amazon EC2 User Guide
    "Sid": "Allow access for organization root",
    "Effect": "Allow",
    "Principal": "*",
    "Action": ["kms:Describe*", "kms:List*", "kms:Get*", "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*",
               "kms:GenerateDataKey*"],
    "Resource": "*",
    "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abcde12345"}},
}


def _key(aws: Aws, *statements: dict[str, object]) -> kms.KeyInfo:
    client = aws.kms()
    owner = {"Sid": "owner", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
             "Action": "kms:*", "Resource": "*"}
    policy = json.dumps({"Version": "2012-10-17", "Statement": [owner, *statements]})
    key_id = client.create_key(Description="org-shared", Policy=policy)["KeyMetadata"]["KeyId"]
    return kms.describe_key(client, key_id, "us-east-1", field="image.encrypt.kms_key")


def test_the_documented_org_policy_lets_the_organization_and_its_ous_launch(aws: Aws) -> None:
    info = _key(aws, DOCUMENTED)
    kms.check_consumers(aws.kms(), info, accounts=[], organizations=[ORG], ous=[OU], field="image.encrypt.kms_key")


def test_an_organization_the_policy_does_not_name_is_still_refused(aws: Aws) -> None:
    info = _key(aws, DOCUMENTED)
    with pytest.raises(PreflightError, match=r"o-zzzzz99999 \(missing kms:Decrypt, kms:DescribeKey\)"):
        kms.check_consumers(aws.kms(), info, accounts=[], organizations=[OTHER_ORG], field="image.encrypt.kms_key")
