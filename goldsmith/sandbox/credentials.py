"""The sandbox's own credentials, and IAM enforcement in its moto server.

Without enforcement, moto takes any access key (the sandbox hands out ``testing``/``testing``). With it
(``serve --iam``), moto checks every request's SigV4 signature and the caller's IAM policies, as AWS does,
after its first ``INITIAL_NO_AUTH_ACTION_COUNT`` requests (moto's documented setting). Those first
requests are the sandbox's own setup, exactly `ADMIN_SETUP_CALLS` of them: an administrator user, its
policy, its access key (`create_admin`). Everything the sandbox does afterwards (the gateway's own calls
to moto, `sandbox.env`, the sandbox target's bakes) is signed with that key; tests create less
privileged users with it through moto's IAM API.

The key is written to STATE_DIR/credentials.json, mode 0600 (the foundation for per-sandbox credentials:
issue 17 makes enforcement the default).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

CREDENTIALS_FILE = "credentials.json"
ADMIN_USER = "goldsmith-sandbox-admin"
ADMIN_SETUP_CALLS = 3  # CreateUser, PutUserPolicy, CreateAccessKey: moto's INITIAL_NO_AUTH_ACTION_COUNT
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


@dataclass(frozen=True)
class Credentials:
    """An access key of the sandbox's moto (never printed by repr)."""

    access_key_id: str
    secret_access_key: str

    def __repr__(self) -> str:
        return f"Credentials({self.access_key_id!r}, <secret>)"


UNCHECKED = Credentials("testing", "testing")  # what moto without IAM enforcement takes


def create_admin(moto_url: str, region: str = "us-east-1") -> Credentials:
    """The sandbox's administrator key, made with exactly ADMIN_SETUP_CALLS unauthenticated requests."""
    import boto3
    from botocore.config import Config

    iam = boto3.client("iam", endpoint_url=moto_url, region_name=region, aws_access_key_id=UNCHECKED.access_key_id,
                       aws_secret_access_key=UNCHECKED.secret_access_key,
                       config=Config(retries={"max_attempts": 1}))  # a retry would spend a setup request
    iam.create_user(UserName=ADMIN_USER)
    iam.put_user_policy(UserName=ADMIN_USER, PolicyName="administrator", PolicyDocument=json.dumps(ADMIN_POLICY))
    key = iam.create_access_key(UserName=ADMIN_USER)["AccessKey"]
    return Credentials(str(key["AccessKeyId"]), str(key["SecretAccessKey"]))


def write(state_dir: Path, credentials: Credentials) -> None:
    """STATE_DIR/credentials.json, created 0600 (never readable by others, not even for a moment)."""
    path = state_dir / CREDENTIALS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"access_key_id": credentials.access_key_id,
                   "secret_access_key": credentials.secret_access_key}, out)
    os.replace(tmp, path)


def read(state_dir: Path) -> Credentials:
    """The sandbox's key, or UNCHECKED when it enforces nothing (no credentials file)."""
    try:
        data = json.loads((state_dir / CREDENTIALS_FILE).read_text())
        return Credentials(str(data["access_key_id"]), str(data["secret_access_key"]))
    except FileNotFoundError:
        return UNCHECKED
