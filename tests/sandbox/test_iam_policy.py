"""The IAM policies Goldsmith ships (docs/iam-policy.json, docs/iam-policy-sharing.json), tried for real: a
sandbox whose moto enforces IAM, users made through its IAM API with exactly those policies, and `invoke
bake --profile USER` as a subprocess. With a statement taken away the bake must refuse before launching
anything, naming the action, the statement and the document to attach."""

from __future__ import annotations

import configparser
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from goldsmith.aws.permissions import SHARING_POLICY_FILE, policy_document
from tests.sandbox.helpers import build_ids, leftovers, run_invoke

pytestmark = pytest.mark.sandbox

RECIPE = """\
name: iam-{kind}
version: 1.0.0
source:
  filter: {{name: "debian-12-sandbox-amd64-*", owners: ["136693071363"]}}
build: {{instance_type: t3.micro, ssh_username: admin}}
volumes:
  root: {{size: 8, type: gp3}}
provision:
  - {{type: shell, inline: ["echo baked > /etc/goldsmith-iam"]}}
image:
  name: "iam-{kind}-{{{{ timestamp }}}}-{{{{ build_id }}}}"
  regions: [us-west-2]
  deprecate_after: 30
{share}"""
SHARE = '  share: {accounts: ["111122223333"], snapshots: true}\n'


@pytest.fixture(scope="module")
def iam_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A sandbox of its own (its IAM users stay out of the session's sandbox)."""
    from goldsmith.sandbox import manage

    state_dir = tmp_path_factory.mktemp("iam-sandbox")
    info = manage.up(state_dir, progress=lambda line: print(line, flush=True))
    try:
        yield info
    finally:
        manage.down(state_dir)


def admin(info: Any, service: str, region: str = "us-east-1") -> Any:
    c = info.credentials
    return boto3.client(service, region_name=region, endpoint_url=info.gateway_url,  # type: ignore[call-overload]
                        aws_access_key_id=c.access_key_id, aws_secret_access_key=c.secret_access_key)


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    path = tmp_path / "aws-credentials"
    path.write_text("")
    return path


def user_with(info: Any, profiles: Path, name: str, document: dict[str, Any]) -> str:
    """An IAM user of the sandbox with exactly `document`, as a profile in the `profiles` file."""
    iam = admin(info, "iam")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="goldsmith", PolicyDocument=json.dumps(document))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    config = configparser.ConfigParser()
    config.read(profiles)
    config[name] = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}
    with profiles.open("w") as out:
        config.write(out)
    return name


def without(document: dict[str, Any], sid: str) -> dict[str, Any]:
    kept = [s for s in document["Statement"] if s["Sid"] != sid]
    assert len(kept) == len(document["Statement"]) - 1, sid
    return {**document, "Statement": kept}


def bake(info: Any, tmp_path: Path, profiles: Path, profile: str, *, share: bool) -> Any:
    kind = "share" if share else "plain"
    recipe = tmp_path / f"{kind}.yaml"
    recipe.write_text(RECIPE.format(kind=kind, share=SHARE if share else ""))
    work = tmp_path / "work"
    proc = run_invoke(["bake", str(recipe), "--profile", profile], work_dir=work, env={
        "GOLDSMITH_SANDBOX_DIR": str(info.state_dir), "AWS_SHARED_CREDENTIALS_FILE": str(profiles),
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config")})
    return proc, work


def test_the_sandbox_refuses_unsigned_and_unknown_credentials(iam_sandbox: Any) -> None:
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=iam_sandbox.gateway_url,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    with pytest.raises(Exception, match="AuthFailure"):
        ec2.describe_images(Owners=["self"])


def test_a_sharing_bake_succeeds_with_exactly_the_sharing_policy(
    iam_sandbox: Any, tmp_path: Path, profiles: Path
) -> None:
    name = user_with(iam_sandbox, profiles, "sharer", policy_document(sharing=True))
    proc, work = bake(iam_sandbox, tmp_path, profiles, name, share=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (build_id,) = build_ids(work)
    ec2 = admin(iam_sandbox, "ec2")
    left = leftovers(ec2, build_id)
    assert set(left) == {"images", "snapshots"}, left  # everything temporary is gone
    image_id = left["images"][0]
    permissions = ec2.describe_image_attribute(ImageId=image_id, Attribute="launchPermission")["LaunchPermissions"]
    assert permissions == [{"UserId": "111122223333"}]
    copies = admin(iam_sandbox, "ec2", "us-west-2").describe_images(
        Owners=["self"], Filters=[{"Name": "tag:goldsmith:build-id", "Values": [build_id]}])["Images"]
    assert len(copies) == 1 and copies[0].get("DeprecationTime")


def test_a_bake_without_sharing_succeeds_with_exactly_the_base_policy(
    iam_sandbox: Any, tmp_path: Path, profiles: Path
) -> None:
    name = user_with(iam_sandbox, profiles, "plain", policy_document(sharing=False))
    proc, _ = bake(iam_sandbox, tmp_path, profiles, name, share=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "could not check" not in proc.stderr  # the preflight did ask IAM


@pytest.mark.parametrize(("sid", "action"), [
    ("BuildAndValidationInstances", "ec2:RunInstances"),
    ("SnapshotAndRegister", "ec2:CreateSnapshots"),
    ("ShareImagesAndSnapshots", "ec2:ModifyImageAttribute"),
])
def test_a_missing_statement_stops_the_bake_before_anything_is_launched(
    iam_sandbox: Any, tmp_path: Path, profiles: Path, sid: str, action: str
) -> None:
    client = iam_sandbox.client()
    launches = len(client.requests("RunInstances"))
    name = user_with(iam_sandbox, profiles, f"lacks-{sid}", without(policy_document(sharing=True), sid))
    proc, work = bake(iam_sandbox, tmp_path, profiles, name, share=True)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert action in proc.stderr and sid in proc.stderr and SHARING_POLICY_FILE in proc.stderr, proc.stderr
    assert "Nothing was launched" in proc.stderr
    assert len(client.requests("RunInstances")) == launches  # not even tried
    (build_id,) = build_ids(work)
    assert leftovers(admin(iam_sandbox, "ec2"), build_id) == {}


def test_a_refusal_the_preflight_could_not_foresee_names_the_action_and_the_policy(
    iam_sandbox: Any, tmp_path: Path, profiles: Path
) -> None:
    """Without iam:SimulatePrincipalPolicy the preflight cannot ask; the refusal, when it comes, is named, and
    the bake cleans up what it made."""
    document = without(without(policy_document(sharing=False), "CheckOwnPermissions"), "SnapshotAndRegister")
    name = user_with(iam_sandbox, profiles, "blind", document)
    proc, work = bake(iam_sandbox, tmp_path, profiles, name, share=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "could not check this identity's IAM permissions" in proc.stderr, proc.stderr
    assert "ec2:CreateSnapshots" in proc.stderr and "SnapshotAndRegister" in proc.stderr, proc.stderr
    (build_id,) = build_ids(work)
    assert leftovers(admin(iam_sandbox, "ec2"), build_id) == {}

