"""The gateway takes only requests signed with a key of the sandbox: a real moto process behind a real gateway
(the fake instance runtime of test_gateway), clients signing with botocore or not at all. A refused request
gets AWS's error in its service's shape and changes nothing: not the request log, not the faults, not moto."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from goldsmith.errors import EnvironmentProblem
from goldsmith.sandbox.client import SandboxClient
from goldsmith.sandbox.credentials import Credentials
from goldsmith.sandbox.gateway import Gateway
from goldsmith.sandbox.moto_server import MotoProcess
from goldsmith.sandbox.sigv4 import sign
from tests.unit.test_gateway import FakeRuntime

MADE_UP = Credentials("AKIAMADEUPMADEUP1234", "made-up-secret")


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoProcess]:
    """moto enforcing IAM, as the sandbox runs it."""
    server = MotoProcess.start(base_image_name="debian-12-sandbox-amd64-20260101", iam=True)
    yield server
    server.stop()


@pytest.fixture
def gateway(moto: MotoProcess) -> Iterator[Gateway]:
    gw = Gateway(moto.url, FakeRuntime(), credentials=moto.credentials)
    gw.start()
    yield gw
    gw.stop()


def client(gateway: Gateway, credentials: Credentials, service: str = "ec2") -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service, endpoint_url=gateway.url, region_name="us-east-1", aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key, config=Config(retries={"total_max_attempts": 1}))


def error_of(call: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as err:
        call()
    return str(err.value.response["Error"]["Code"]), int(err.value.response["ResponseMetadata"]["HTTPStatusCode"])


def raw(gateway: Gateway, method: str, path: str, body: bytes = b"",
        headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    parts = urlsplit(gateway.url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wrong_secret(moto: MotoProcess) -> Credentials:
    return Credentials(moto.credentials.access_key_id, "not-" + moto.credentials.secret_access_key)


def test_the_sandbox_key_works_and_others_get_each_service_s_own_error(gateway: Gateway, moto: MotoProcess) -> None:
    assert client(gateway, moto.credentials).describe_images(Owners=["self"])["Images"] == []
    gateway.stats.reset()
    ec2, iam, kms = (client(gateway, MADE_UP, s) for s in ("ec2", "iam", "kms"))
    assert error_of(lambda: ec2.describe_images(Owners=["self"])) == ("AuthFailure", 401)
    assert error_of(lambda: iam.list_users()) == ("InvalidClientTokenId", 403)
    assert error_of(lambda: kms.list_keys()) == ("UnrecognizedClientException", 400)
    ec2, iam, kms = (client(gateway, wrong_secret(moto), s) for s in ("ec2", "iam", "kms"))
    assert error_of(lambda: ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)) == ("AuthFailure", 401)
    assert error_of(lambda: iam.create_user(UserName="intruder")) == ("SignatureDoesNotMatch", 403)
    assert error_of(lambda: kms.create_key()) == ("InvalidSignatureException", 400)
    assert gateway.stats.requests() == [] and gateway.stats.snapshot()["total"] == 0  # nothing counted
    users = client(gateway, moto.credentials, "iam").list_users()["Users"]
    assert "intruder" not in {u["UserName"] for u in users}


def test_an_unsigned_request_is_refused_before_moto_sees_it(gateway: Gateway, moto: MotoProcess) -> None:
    gateway.stats.reset()
    body = b"Action=RunInstances&Version=2016-11-15&ImageId=ami-12345678&MinCount=1&MaxCount=1"
    status, answer = raw(gateway, "POST", "/", body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 401 and b"<Code>MissingAuthenticationToken</Code>" in answer
    status, answer = raw(gateway, "POST", "/", b"Action=ListUsers&Version=2010-05-08",
                         {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 403 and b"<Code>MissingAuthenticationToken</Code>" in answer
    assert gateway.stats.requests() == []
    instances = client(gateway, moto.credentials).describe_instances()["Reservations"]
    assert instances == []


def test_a_signature_older_than_15_minutes_is_refused(
    gateway: Gateway, moto: MotoProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    import botocore.auth

    ec2 = client(gateway, moto.credentials)
    then = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=16)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: then)  # the signer's clock, 16 min late
    assert error_of(lambda: ec2.describe_images(Owners=["self"])) == ("RequestExpired", 400)


def test_the_control_api_takes_only_the_sandbox_s_own_key(gateway: Gateway, moto: MotoProcess) -> None:
    own = SandboxClient(gateway.url, moto.credentials)
    own.set_faults([{"action": "DescribeImages", "error": "InternalError", "nth": 99}])
    before = own.requests()
    status, answer = raw(gateway, "PUT", "/_sandbox/faults", b'{"rules": []}')
    assert status == 403 and json.loads(answer)["code"] == "MissingAuthenticationToken"
    status, _ = raw(gateway, "POST", "/_sandbox/counts/reset", b"{}")
    assert status == 403
    for credentials in (MADE_UP, wrong_secret(moto)):
        with pytest.raises(EnvironmentProblem, match="refused"):
            SandboxClient(gateway.url, credentials).clear_faults()
        with pytest.raises(EnvironmentProblem, match="refused"):
            SandboxClient(gateway.url, credentials).instances()
    assert own.requests() == before
    assert gateway.faults.describe()["rules"], "the faults were not changed"
    own.clear_faults()


def test_a_user_of_the_sandbox_s_iam_may_call_aws_but_not_the_control_api(gateway: Gateway, moto: MotoProcess) -> None:
    iam = client(gateway, moto.credentials, "iam")
    iam.create_user(UserName="reader")
    iam.put_user_policy(UserName="reader", PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}]}))
    made = iam.create_access_key(UserName="reader")["AccessKey"]
    reader = Credentials(made["AccessKeyId"], made["SecretAccessKey"])
    assert client(gateway, reader).describe_images(Owners=["self"])["Images"] == []
    assert error_of(lambda: client(gateway, reader).create_key_pair(KeyName="k"))[0] == "UnauthorizedOperation"
    with pytest.raises(EnvironmentProblem, match="only the sandbox's own key"):
        SandboxClient(gateway.url, reader).counts()
    iam.update_access_key(UserName="reader", AccessKeyId=reader.access_key_id, Status="Inactive")
    assert error_of(lambda: client(gateway, reader).describe_images(Owners=["self"])) == ("AuthFailure", 401)
    iam.update_access_key(UserName="reader", AccessKeyId=reader.access_key_id, Status="Active")
    assert client(gateway, reader).describe_images(Owners=["self"])["Images"] == []
    iam.delete_access_key(UserName="reader", AccessKeyId=reader.access_key_id)
    assert error_of(lambda: client(gateway, reader).describe_images(Owners=["self"])) == ("AuthFailure", 401)


def test_moto_s_own_api_is_never_forwarded(gateway: Gateway, moto: MotoProcess) -> None:
    """/moto-api/reset-auth would turn IAM enforcement off: refused unsigned, and signed with the right key."""
    status, _ = raw(gateway, "POST", "/moto-api/reset-auth", b'{"INITIAL_NO_AUTH_ACTION_COUNT": 100}')
    assert status == 403
    url = f"{gateway.url}/moto-api/reset-auth"
    body = b'{"INITIAL_NO_AUTH_ACTION_COUNT": 100}'
    headers = sign("POST", url, body, {}, moto.credentials.access_key_id, moto.credentials.secret_access_key,
                   "us-east-1", "moto")
    status, answer = raw(gateway, "POST", "/moto-api/reset-auth", body, headers)
    assert status == 403 and b"moto-api" in answer
    status, _ = raw(gateway, "GET", "/moto-api/data.json", b"", sign(
        "GET", f"{gateway.url}/moto-api/data.json", b"", {}, moto.credentials.access_key_id,
        moto.credentials.secret_access_key, "us-east-1", "moto"))
    assert status == 403
    assert error_of(lambda: client(gateway, MADE_UP).describe_images(Owners=["self"])) == ("AuthFailure", 401)
