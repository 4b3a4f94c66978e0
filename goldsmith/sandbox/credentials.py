"""The sandbox's own credentials, and IAM enforcement in its moto server.

Every sandbox has its own key: its moto checks every request's SigV4 signature and the caller's IAM
policies, as AWS does, after its first ``INITIAL_NO_AUTH_ACTION_COUNT`` requests (moto's documented
setting). Those first requests are the sandbox's own setup, exactly `ADMIN_SETUP_CALLS` of them, sent over
moto's private socket before anyone else can reach it: an administrator user, its policy, its access key
(`create_admin`). Everything the sandbox does afterwards (the gateway's own calls to moto, its control API,
`sandbox.env`, the sandbox target's bakes) is signed with that key; tests create less privileged users
with it through moto's IAM API.

The key is written with the endpoint to STATE_DIR/credentials.json, mode 0600 in the 0700 state dir:
readable only by the user who started the sandbox. A moto started on its own (unit tests) without
enforcement takes any key, e.g. `UNCHECKED`.
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
    from goldsmith.sandbox import moto_transport

    # No retry: a retry would spend a setup request.
    iam = moto_transport.client("iam", moto_url, region, UNCHECKED, retries={"max_attempts": 1})
    iam.create_user(UserName=ADMIN_USER)
    iam.put_user_policy(UserName=ADMIN_USER, PolicyName="administrator", PolicyDocument=json.dumps(ADMIN_POLICY))
    key = iam.create_access_key(UserName=ADMIN_USER)["AccessKey"]
    return Credentials(str(key["AccessKeyId"]), str(key["SecretAccessKey"]))


def write(state_dir: Path, credentials: Credentials, endpoint_url: str, region: str) -> None:
    """STATE_DIR/credentials.json, created 0600 (never readable by others, not even for a moment): the key,
    and where and in which default region to use it."""
    path = state_dir / CREDENTIALS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"endpoint_url": endpoint_url, "region": region, "access_key_id": credentials.access_key_id,
                   "secret_access_key": credentials.secret_access_key}, out)
    os.replace(tmp, path)


def read(state_dir: Path) -> Credentials:
    """The sandbox's key; OSError if there is none (not started yet) or it is not this user's to read."""
    try:
        data = json.loads((state_dir / CREDENTIALS_FILE).read_text())
        return Credentials(str(data["access_key_id"]), str(data["secret_access_key"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise OSError(f"{state_dir / CREDENTIALS_FILE} is not a sandbox key file") from exc
