"""moto with IAM enforced, as the sandbox runs it (`MotoProcess.start(iam=True)`), over HTTP with boto3: refusals
in each service's own shape, DryRun authorized first, and SimulatePrincipalPolicy agreeing with the calls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from goldsmith.sandbox.credentials import UNCHECKED, Credentials
from goldsmith.sandbox.moto_fixes import BASE_IMAGE_OWNER
from goldsmith.sandbox.moto_server import MotoProcess

ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoProcess]:
    server = MotoProcess.start(base_image_name="debian-12-sandbox-amd64-20260101", iam=True)
    yield server
    server.stop()


def client(moto: MotoProcess, service: str, credentials: Credentials) -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service, endpoint_url=moto.url, region_name="us-east-1", aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key, config=Config(retries={"max_attempts": 1}))


@pytest.fixture(scope="module")
def baker(moto: MotoProcess) -> Credentials:
    """A user allowed DescribeImages and RunInstances, explicitly denied CreateVolume."""
    iam = client(moto, "iam", moto.credentials)
    iam.create_user(UserName="baker")
    document = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["ec2:DescribeImages", "ec2:RunInstances", "iam:SimulatePrincipalPolicy"],
         "Resource": "*"},
        {"Effect": "Deny", "Action": "ec2:CreateVolume", "Resource": "*"}]}
    iam.put_user_policy(UserName="baker", PolicyName="p", PolicyDocument=json.dumps(document))
    key = iam.create_access_key(UserName="baker")["AccessKey"]
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])


def refusal(call: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return str(response["Error"]["Code"]), int(response["ResponseMetadata"]["HTTPStatusCode"]), \
        str(response["Error"].get("Message", ""))


def test_only_the_sandbox_setup_went_unauthenticated(moto: MotoProcess) -> None:
    assert moto.credentials != UNCHECKED
    code, status, _ = refusal(lambda: client(moto, "ec2", UNCHECKED).describe_images(Owners=["self"]))
    assert (code, status) == ("AuthFailure", 401)
    wrong = Credentials(moto.credentials.access_key_id, "not-the-secret")
    assert refusal(lambda: client(moto, "ec2", wrong).describe_images(Owners=["self"]))[0] == "AuthFailure"
    client(moto, "ec2", moto.credentials).describe_images(Owners=["self"])  # the administrator may


def test_ec2_refuses_with_unauthorized_operation(moto: MotoProcess, baker: Credentials) -> None:
    ec2 = client(moto, "ec2", baker)
    code, status, message = refusal(lambda: ec2.create_key_pair(KeyName="k"))
    assert (code, status) == ("UnauthorizedOperation", 403)
    assert message.startswith("You are not authorized to perform this operation.")
    assert f"arn:aws:iam::{ACCOUNT}:user/baker" in message and "ec2:CreateKeyPair" in message


def test_dry_run_is_authorized_before_it_answers(moto: MotoProcess, baker: Credentials) -> None:
    ec2 = client(moto, "ec2", baker)
    image = ec2.describe_images(Owners=[BASE_IMAGE_OWNER])["Images"][0]["ImageId"]
    allowed = refusal(lambda: ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                                                DryRun=True))
    assert allowed[:2] == ("DryRunOperation", 412)
    denied = refusal(lambda: ec2.create_key_pair(KeyName="k", DryRun=True))
    assert denied[:2] == ("UnauthorizedOperation", 403)
    explicit = refusal(lambda: ec2.create_volume(AvailabilityZone="us-east-1a", Size=1, DryRun=True))
    assert explicit[0] == "UnauthorizedOperation"


def test_kms_refuses_with_access_denied_exception(moto: MotoProcess, baker: Credentials) -> None:
    code, status, message = refusal(lambda: client(moto, "kms", baker).describe_key(KeyId="alias/aws/ebs"))
    assert (code, status) == ("AccessDeniedException", 400)
    assert "kms:DescribeKey" in message


def test_simulate_principal_policy_agrees_with_the_calls(moto: MotoProcess, baker: Credentials) -> None:
    iam = client(moto, "iam", baker)
    answer = iam.simulate_principal_policy(
        PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:user/baker",
        ActionNames=["ec2:RunInstances", "ec2:CreateKeyPair", "ec2:CreateVolume"])
    decisions = {r["EvalActionName"]: r["EvalDecision"] for r in answer["EvaluationResults"]}
    assert decisions == {"ec2:RunInstances": "allowed", "ec2:CreateKeyPair": "implicitDeny",
                         "ec2:CreateVolume": "explicitDeny"}


def test_simulate_principal_policy_needs_its_own_permission(moto: MotoProcess) -> None:
    iam = client(moto, "iam", moto.credentials)
    iam.create_user(UserName="nosim")
    key = iam.create_access_key(UserName="nosim")["AccessKey"]
    nosim = client(moto, "iam", Credentials(key["AccessKeyId"], key["SecretAccessKey"]))
    code, status, _ = refusal(lambda: nosim.simulate_principal_policy(
        PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:user/nosim", ActionNames=["ec2:RunInstances"]))
    assert (code, status) == ("AccessDenied", 403)
