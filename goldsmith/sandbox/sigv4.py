"""Checking a request's AWS Signature Version 4, as AWS does before it reads anything else.

The signature is recomputed for the request as received, with the secret of the access key it names, by
botocore's own signer (`SigV4Auth`: canonical request, string to sign, signing key), the code every AWS SDK
for Python signs with; only the headers the client listed in SignedHeaders take part, as in AWS's check.
A request is refused when it carries no SigV4 Authorization header, names a key the sandbox does not know
(or one made inactive), does not match, says its body hash is something else, or was signed more than 15
minutes away from now (AWS's window). Pre-signed query-string requests are not accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from botocore.auth import SigV4Auth

AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 +Credential=(?P<key>[^/\s,]+)/(?P<date>\d{8})/(?P<region>[^/\s,]+)/(?P<service>[^/\s,]+)"
    r"/aws4_request, *SignedHeaders=(?P<signed>[a-z0-9\-;]+), *Signature=(?P<signature>[0-9a-f]{64})$")
MAX_SKEW = 15 * 60  # seconds: AWS refuses a request signed more than 15 minutes before or after it arrives
Reason = Literal["missing", "unknown_key", "mismatch", "expired"]


@dataclass(frozen=True)
class Signer:
    """Who signed a request whose signature holds, and the scope they signed it for."""

    access_key_id: str
    region: str
    service: str


class SignatureRefused(Exception):
    """Why a request's signature does not hold; `reason` picks AWS's error for it."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason: Reason = reason


def verify(method: str, path: str, headers: list[tuple[str, str]], body: bytes,
           secret_of: Callable[[str], str | None], now: datetime | None = None) -> Signer:
    """The signer of this request (`path` with its query string, `headers` as received); raises
    SignatureRefused. `secret_of` gives an access key's secret, or None for a key that is not valid."""
    lower = [(k.lower(), v) for k, v in headers]
    found = AUTHORIZATION.match(next((v for k, v in lower if k == "authorization"), "").strip())
    if found is None:
        raise SignatureRefused("missing", "the request is not signed with AWS Signature Version 4")
    secret = secret_of(found["key"])
    if secret is None:
        raise SignatureRefused("unknown_key", "the access key is not one of this sandbox's")
    signed = set(found["signed"].split(";"))
    amz_date = next((v for k, v in lower if k == "x-amz-date"), "")
    if "host" not in signed or "x-amz-date" not in signed or not amz_date.startswith(found["date"]):
        raise SignatureRefused("mismatch", "the signature does not cover the host and x-amz-date headers")
    _check_time(amz_date, now or datetime.now(UTC))
    claimed = next((v for k, v in lower if k == "x-amz-content-sha256"), None)
    if claimed is not None and claimed != hashlib.sha256(body).hexdigest():
        raise SignatureRefused("mismatch", "the body is not the one whose hash was signed")
    host = next(v for k, v in lower if k == "host")
    from botocore.awsrequest import AWSRequest

    request = AWSRequest(method=method, url=f"http://{host}{path}", data=body)
    for name, value in headers:
        if name.lower() in signed:
            request.headers[name] = value  # appends: a repeated header is signed with all its values
    request.context["timestamp"] = amz_date
    auth = _signer(found["key"], secret, found["region"], found["service"])
    expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    if not hmac.compare_digest(expected, found["signature"]):
        raise SignatureRefused("mismatch", "the signature does not match")
    return Signer(found["key"], found["region"], found["service"])


def _check_time(amz_date: str, now: datetime) -> None:
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise SignatureRefused("mismatch", f"x-amz-date {amz_date!r} is not a time") from None
    if abs((now - signed_at).total_seconds()) > MAX_SKEW:
        raise SignatureRefused("expired", f"signed at {amz_date}, more than 15 minutes from now "
                                          f"({now:%Y%m%dT%H%M%SZ})")


def sign(method: str, url: str, body: bytes, headers: dict[str, str], access_key_id: str, secret: str,
         region: str, service: str) -> dict[str, str]:
    """`headers` plus the SigV4 headers (X-Amz-Date, Authorization) for this request, signed by botocore."""
    from botocore.awsrequest import AWSRequest

    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    _signer(access_key_id, secret, region, service).add_auth(request)
    return {str(k): str(v) for k, v in request.headers.items()}


def _signer(access_key_id: str, secret: str, region: str, service: str) -> SigV4Auth:
    """botocore's SigV4 signer (imported on first use: `sandbox up` starts moto before botocore is loaded)."""
    from botocore.auth import SigV4Auth
    from botocore.credentials import Credentials as BotoCredentials

    return SigV4Auth(BotoCredentials(access_key_id, secret), service, region)
