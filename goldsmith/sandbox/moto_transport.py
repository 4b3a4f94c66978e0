"""Reaching the sandbox's moto server over a unix socket.

moto listens on STATE_DIR/moto.sock, not on a TCP port: a TCP port on 127.0.0.1 is open to every local user,
and moto answers requests the gateway would refuse (its ``/moto-api/`` endpoints turn IAM enforcement off, reset
the world, or dump it). The socket is 0600 in a 0700 directory of the user who started the sandbox, so only
that user (and root) can connect; everyone else goes through the gateway, which checks signatures.

A moto address is a URL: ``http://127.0.0.1:PORT`` (unit tests run moto on TCP) or
``http+unix://%2Fpath%2Fto%2Fmoto.sock``. `connection` opens either; `client` makes a boto3 client that sends
its requests there (botocore's ``before-send`` event lets a handler answer instead of the HTTP session).
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from goldsmith.sandbox.credentials import Credentials

UNIX_SCHEME = "http+unix"
UNIX_PATH_MAX = 107  # sun_path is 108 bytes with its NUL


def unix_url(path: Path) -> str:
    """The moto address of a unix socket."""
    return f"{UNIX_SCHEME}://{quote(str(path), safe='')}"


def socket_path(url: str) -> Path | None:
    """The socket of a unix moto address, None for a TCP one."""
    parts = urlsplit(url)
    return Path(unquote(parts.netloc)) if parts.scheme == UNIX_SCHEME else None


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 over a unix socket (the Host header is whatever the request says)."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.socket_path))
        except OSError:
            sock.close()
            raise
        self.sock = sock


def connection(url: str, timeout: float) -> http.client.HTTPConnection:
    """A connection to moto at `url` (TCP or unix socket), not yet connected."""
    path = socket_path(url)
    if path is not None:
        return UnixHTTPConnection(path, timeout)
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)


class _Body:
    """What botocore's AWSResponse reads a body from (``raw.stream()``)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


def _sender(path: Path, timeout: float) -> Any:
    from botocore.awsrequest import AWSResponse, HTTPHeaders

    def send(request: Any, **_: Any) -> Any:
        parts = urlsplit(request.url)
        conn = UnixHTTPConnection(path, timeout)
        try:
            body = request.body
            if body is not None and not isinstance(body, bytes | str):
                body = body.read()
            conn.request(request.method, parts.path + (f"?{parts.query}" if parts.query else ""), body=body,
                         headers=dict(request.headers.items()))
            response = conn.getresponse()
            data = response.read()
            headers = HTTPHeaders()
            for name, value in response.getheaders():
                headers[name] = value
            return AWSResponse(request.url, response.status, headers, _Body(data))
        finally:
            conn.close()

    return send


def load_models(*services: str) -> None:
    """Have boto3's default session parse these services' models now (EC2's alone takes ~0.4 s), e.g. while
    moto starts, so the first `client` of each is quick."""
    import boto3

    for service in services:
        boto3.client(service, region_name="us-east-1", endpoint_url="http://localhost",  # type: ignore[call-overload]
                     aws_access_key_id="unused", aws_secret_access_key="unused")


def client(service: str, url: str, region: str, credentials: Credentials, **config: Any) -> Any:
    """A boto3 client of moto at `url` signed with `credentials`; `config` goes to botocore's Config."""
    import boto3
    from botocore.config import Config

    path = socket_path(url)
    made = boto3.client(service, endpoint_url=url if path is None else "http://localhost",  # type: ignore[call-overload]
                        region_name=region, aws_access_key_id=credentials.access_key_id,
                        aws_secret_access_key=credentials.secret_access_key, config=Config(**config))
    if path is not None:
        made.meta.events.register_first("before-send", _sender(path, 600.0))
    return made
