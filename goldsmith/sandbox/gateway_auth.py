"""Who may use the gateway: requests signed (SigV4) with an access key of the sandbox, nothing else.

The gateway checks every request's signature (goldsmith.sandbox.sigv4) before it counts, logs, forwards or
answers it, its own control API included; a refused request changes nothing and gets AWS's error in the
shape of the service it was meant for. The control API (``/_sandbox/``) and nothing else takes only the
sandbox's own administrator key; moto's ``/moto-api/`` is never forwarded (it can turn IAM enforcement off).

`KeyRing` knows the secrets: the administrator key the sandbox made itself, and every key made since through
its IAM or STS, read from the answers to those calls as they pass through the gateway (the only way to
reach moto: goldsmith.sandbox.moto_transport). DeleteAccessKey forgets one; UpdateAccessKey can make one
inactive, which AWS also refuses.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
import xml.etree.ElementTree as ET
from typing import Any
from xml.sax.saxutils import escape

from goldsmith.sandbox.credentials import Credentials
from goldsmith.sandbox.sigv4 import Reason, SignatureRefused, Signer, verify

log = logging.getLogger(__name__)
Response = tuple[int, list[tuple[str, str]], bytes]
EC2_API_VERSION = "2016-11-15"  # an unsigned query request of this Version is meant for EC2
# Answers that carry a new secret: IAM's CreateAccessKey, STS's temporary credentials.
ISSUES_KEYS = {"CreateAccessKey", "AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity",
               "GetSessionToken", "GetFederationToken"}
# reason -> (EC2 code, HTTP status), (query-protocol code, status), (JSON-protocol __type, status), message
ERRORS: dict[Reason, tuple[tuple[str, int], tuple[str, int], tuple[str, int], str]] = {
    "missing": (("MissingAuthenticationToken", 401), ("MissingAuthenticationToken", 403),
                ("MissingAuthenticationTokenException", 400),
                "The request must contain either a valid (registered) AWS access key ID or X.509 certificate."),
    "unknown_key": (("AuthFailure", 401), ("InvalidClientTokenId", 403), ("UnrecognizedClientException", 400),
                    "The security token included in the request is invalid."),
    "mismatch": (("AuthFailure", 401), ("SignatureDoesNotMatch", 403), ("InvalidSignatureException", 400),
                 "The request signature we calculated does not match the signature you provided. Check your AWS "
                 "Secret Access Key and signing method. Consult the service documentation for details."),
    "expired": (("RequestExpired", 400), ("SignatureDoesNotMatch", 403), ("InvalidSignatureException", 400),
                "Signature expired: the request was signed more than 15 minutes before or after it arrived."),
}
EC2_AUTH_FAILURE = "AWS was not able to validate the provided access credentials"


class KeyRing:
    """Access key id -> secret of every valid key of the sandbox (thread-safe)."""

    def __init__(self, admin: Credentials) -> None:
        self.admin = admin
        self._lock = threading.Lock()
        self._secrets = {admin.access_key_id: admin.secret_access_key}
        self._inactive: set[str] = set()

    def secret_of(self, access_key_id: str) -> str | None:
        with self._lock:
            return None if access_key_id in self._inactive else self._secrets.get(access_key_id)

    def learn(self, action: str, params: dict[str, str], status: int, answer: bytes) -> None:
        """Follow the key-issuing and key-changing calls moto accepted."""
        if status != 200:
            return
        with self._lock:
            if action in ISSUES_KEYS:
                self._secrets.update(issued_keys(answer))
            elif action == "DeleteAccessKey" and params.get("AccessKeyId") != self.admin.access_key_id:
                self._secrets.pop(params.get("AccessKeyId", ""), None)
            elif action == "UpdateAccessKey" and "AccessKeyId" in params:
                (self._inactive.add if params.get("Status") == "Inactive" else self._inactive.discard)(
                    params["AccessKeyId"])


def issued_keys(answer: bytes) -> dict[str, str]:
    """Access key id -> secret of every element of an XML answer that holds both (any namespace, any order)."""
    try:
        root = ET.fromstring(answer)
    except ET.ParseError:
        return {}
    found = {}
    for element in root.iter():
        values = {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in element}
        if values.get("AccessKeyId") and values.get("SecretAccessKey"):
            found[values["AccessKeyId"]] = values["SecretAccessKey"]
    return found


class Authenticator:
    """Checks requests against a KeyRing; answers refusals as AWS would."""

    def __init__(self, keys: KeyRing) -> None:
        self.keys = keys

    def check(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> Signer | Response:
        """The signer, or the refusal to send back. Control and moto-api paths need more (`admit`)."""
        try:
            signer = verify(method, path, headers, body, self.keys.secret_of)
        except SignatureRefused as exc:
            log.info("refused %s %s: %s", method, path.split("?", 1)[0], exc)
            return refusal(exc.reason, path, headers, body)
        if path.startswith("/moto-api"):
            log.info("refused %s %s: moto's own API is not served", method, path.split("?", 1)[0])
            return _json_error(403, "AccessDenied", "moto's own API (/moto-api/) is reachable only by the sandbox")
        if path.startswith("/_sandbox/") and signer.access_key_id != self.keys.admin.access_key_id:
            log.info("refused %s %s: not the sandbox's own key", method, path.split("?", 1)[0])
            return _json_error(403, "AccessDenied", "the sandbox's control API takes only the sandbox's own key "
                                                    "(STATE_DIR/credentials.json)")
        return signer


def refusal(reason: Reason, path: str, headers: list[tuple[str, str]], body: bytes) -> Response:
    """AWS's answer to a request whose signature does not hold, in the protocol it was sent in."""
    ec2, query, json_type, message = ERRORS[reason]
    lower = {k.lower(): v for k, v in headers}
    if path.startswith("/_sandbox/"):
        return _json_error(query[1], query[0], message)
    if "x-amz-target" in lower or "json" in lower.get("content-type", ""):
        return json_type[1], [("Content-Type", "application/x-amz-json-1.1"),
                              ("x-amzn-RequestId", str(uuid.uuid4()))], \
            json.dumps({"__type": json_type[0], "message": message}).encode()
    if _is_ec2(path, lower, body):
        text = EC2_AUTH_FAILURE if ec2[0] == "AuthFailure" else message
        return ec2[1], [("Content-Type", "text/xml;charset=UTF-8")], (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{ec2[0]}</Code><Message>'
            f"{escape(text)}</Message></Error></Errors><RequestID>{uuid.uuid4()}</RequestID></Response>").encode()
    return query[1], [("Content-Type", "text/xml")], (
        f'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
        f"<Code>{query[0]}</Code><Message>{escape(message)}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>").encode()


def _is_ec2(path: str, lower: dict[str, str], body: bytes) -> bool:
    """EC2's by the credential scope it names, else (unsigned) by the EC2 API version it asks for."""
    scope = re.search(r"Credential=[^/]*/\d+/[^/]+/([^/]+)/", lower.get("authorization", ""))
    if scope:
        return scope.group(1) == "ec2"
    return f"Version={EC2_API_VERSION}".encode() in body or f"Version={EC2_API_VERSION}" in path


def _json_error(status: int, code: str, message: str) -> Response:
    payload: dict[str, Any] = {"error": message, "code": code}
    return status, [("Content-Type", "application/json")], json.dumps(payload).encode()
