"""Only the user who started the sandbox can drive it (issue 17). A second, unprivileged local user, made for
the test with useradd, tries everything from its own processes (runuser, the system's python3, standard
library only): AWS calls to the gateway unsigned, signed with made-up keys, or with the sandbox's key id and
a guessed secret; the control API (counts, reset, faults, latency, instances); moto's own socket and its
/moto-api/ (reset-auth would turn IAM enforcement off); the state directory and the key file. Everything is
refused, and the request log, counts, faults, latency, instances and moto's state are as they were."""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from goldsmith.sandbox import moto_transport
from goldsmith.sandbox.moto_transport import unix_url
from goldsmith.sandbox.sigv4 import sign

pytestmark = pytest.mark.sandbox
SYSTEM_PYTHON = "/usr/bin/python3"  # not root's pyenv: the other user cannot even read /root

# Run as the other user: sends each request of a JSON list (stdin) and prints what came back; then tries
# moto's socket and the state dir's files.
ATTEMPTS = r"""
import base64, json, os, socket, sys, urllib.error, urllib.request
plan = json.load(sys.stdin)
out = {"http": [], "files": {}}
for r in plan["requests"]:
    req = urllib.request.Request(r["url"], data=base64.b64decode(r["body"]) or None, method=r["method"],
                                 headers=r["headers"])
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            out["http"].append([r["name"], resp.status, resp.read().decode("utf-8", "replace")[:300]])
    except urllib.error.HTTPError as exc:
        out["http"].append([r["name"], exc.code, exc.read().decode("utf-8", "replace")[:300]])
    except OSError as exc:
        out["http"].append([r["name"], -1, repr(exc)])
try:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(plan["moto_socket"])
    s.sendall(b"POST /moto-api/reset-auth HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
    out["files"]["moto_socket"] = "connected: " + s.recv(200).decode("latin-1")
except OSError as exc:
    out["files"]["moto_socket"] = type(exc).__name__
for name in ("credentials.json", "sandbox.json", "daemon.log", "moto.log"):
    try:
        out["files"][name] = "read: " + open(os.path.join(plan["state_dir"], name)).read()[:100]
    except OSError as exc:
        out["files"][name] = type(exc).__name__
try:
    out["files"]["listing"] = "listed: " + ",".join(os.listdir(plan["state_dir"]))
except OSError as exc:
    out["files"]["listing"] = type(exc).__name__
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def other_user() -> Iterator[str]:
    """A fresh unprivileged user (no home, no shell of note), removed afterwards."""
    name = f"gsother{secrets.token_hex(3)}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", name],
                   check=True, capture_output=True)
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)


def request(name: str, url: str, method: str = "GET", body: bytes = b"", headers: dict[str, str] | None = None,
            key: tuple[str, str] | None = None, service: str = "ec2") -> dict[str, Any]:
    """A request for the other user to send; signed with `key` (id, secret) when given."""
    headers = dict(headers or {})
    if key is not None:
        headers = sign(method, url, body, headers, key[0], key[1], "us-east-1", service)
    return {"name": name, "url": url, "method": method, "headers": headers,
            "body": base64.b64encode(body).decode()}


def plan(sandbox: Any) -> list[dict[str, Any]]:
    gw, own_id = sandbox.gateway_url, sandbox.credentials.access_key_id
    form = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    run = b"Action=RunInstances&Version=2016-11-15&ImageId=ami-12345678&MinCount=1&MaxCount=1&KeyName=mine"
    users = b"Action=CreateUser&Version=2010-05-08&UserName=intruder"
    reset = b'{"INITIAL_NO_AUTH_ACTION_COUNT": 1000}'
    keys = {"unsigned": None, "made-up": ("AKIAMADEUPMADEUP0000", "made-up"), "guessed": (own_id, "guessed")}
    out = []
    for how, key in keys.items():
        out += [
            request(f"RunInstances {how}", f"{gw}/", "POST", run, form, key),
            request(f"ImportKeyPair {how}", f"{gw}/", "POST", b"Action=ImportKeyPair&Version=2016-11-15&KeyName="
                    b"mine&PublicKeyMaterial=c3NoLWVkMjU1MTkgQUFBQQ%3D%3D", form, key),
            request(f"CreateUser {how}", f"{gw}/", "POST", users, form, key, "iam"),
            request(f"counts {how}", f"{gw}/_sandbox/counts", key=key, service="sandbox"),
            request(f"requests {how}", f"{gw}/_sandbox/requests", key=key, service="sandbox"),
            request(f"instances {how}", f"{gw}/_sandbox/instances", key=key, service="sandbox"),
            request(f"reset counts {how}", f"{gw}/_sandbox/counts/reset", "POST", b"{}", key=key, service="sandbox"),
            request(f"faults {how}", f"{gw}/_sandbox/faults", "PUT", b'{"rules": [{"action": "*", "error": '
                    b'"InternalError", "rate": 1}]}', key=key, service="sandbox"),
            request(f"latency {how}", f"{gw}/_sandbox/latency", "PUT", b'{"profile": "aws", "scale": 50}',
                    key=key, service="sandbox"),
            request(f"moto-api {how}", f"{gw}/moto-api/reset-auth", "POST", reset, key=key, service="moto"),
        ]
    return out


def world(sandbox: Any) -> dict[str, Any]:
    """Everything a refused request must leave as it was; moto's state read straight from its socket (as the
    sandbox's owner may), so that looking does not add to the gateway's request log."""
    control = sandbox.client()
    url = unix_url(Path(sandbox.moto_socket))
    iam, ec2 = (moto_transport.client(s, url, "us-east-1", sandbox.credentials) for s in ("iam", "ec2"))
    return {"requests": control.requests(), "counts": control.counts(), "instances": control.instances(),
            "faults": control._call("GET", "faults"), "latency": control._call("GET", "latency"),
            "users": sorted(u["UserName"] for u in iam.list_users()["Users"]),
            "keys": sorted(k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]),
            "reservations": len(ec2.describe_instances()["Reservations"])}


def test_another_local_user_cannot_drive_or_read_the_sandbox(sandbox: Any, other_user: str) -> None:
    before = world(sandbox)
    proc = subprocess.run(["runuser", "-u", other_user, "--", SYSTEM_PYTHON, "-c", ATTEMPTS], input=json.dumps({
        "requests": plan(sandbox), "moto_socket": sandbox.moto_socket, "state_dir": str(sandbox.state_dir)}),
        capture_output=True, text=True, timeout=300, check=False, cwd="/")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    expected = {"MissingAuthenticationToken", "AuthFailure", "InvalidClientTokenId", "SignatureDoesNotMatch",
                "AccessDenied"}
    for name, status, body in result["http"]:
        assert status in (401, 403), f"{name}: {status} {body}"
        assert any(code in body for code in expected), f"{name}: {body}"
    assert {name: status for name, status, _ in result["http"] if name.startswith("RunInstances")} == {
        "RunInstances unsigned": 401, "RunInstances made-up": 401, "RunInstances guessed": 401}
    assert set(result["files"].values()) == {"PermissionError"}, result["files"]
    assert world(sandbox) == before  # not one request logged or counted, nothing changed
    with pytest.raises(Exception, match="AuthFailure"):  # IAM enforcement is still on
        _made_up_ec2(sandbox).describe_instances()


def _made_up_ec2(sandbox: Any) -> Any:
    import boto3

    return boto3.client("ec2", region_name="us-east-1", endpoint_url=sandbox.gateway_url,
                        aws_access_key_id="AKIAMADEUPMADEUP0000", aws_secret_access_key="made-up")


def test_the_state_dir_is_the_owner_s_alone(sandbox: Any) -> None:
    state_dir = Path(sandbox.state_dir)
    info = state_dir.stat()
    assert info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) == 0o700
    for entry in state_dir.iterdir():
        mode = stat.S_IMODE(entry.lstat().st_mode)
        assert entry.lstat().st_uid == os.geteuid(), entry
        assert mode & 0o077 == 0, f"{entry} is {mode:o}"
    assert stat.S_IMODE((state_dir / "credentials.json").stat().st_mode) == 0o600
    assert stat.S_ISSOCK((state_dir / "moto.sock").stat().st_mode)
    listening = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    assert f"pid={sandbox.moto_pid}," not in listening  # moto has no TCP port at all


def test_a_state_dir_of_another_user_is_refused(other_user: str, tmp_path: Path) -> None:
    from goldsmith.errors import EnvironmentProblem
    from goldsmith.sandbox import manage

    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o777)
    subprocess.run(["chown", f"{other_user}:{other_user}", str(theirs)], check=True)
    with pytest.raises(EnvironmentProblem, match="only the user who started a sandbox can drive it"):
        manage.up(theirs)
    assert list(theirs.iterdir()) == []  # no key written where its owner could read it
