"""boto3 sessions and clients with one retry policy, cached per (service, region).

Credentials, profiles, regions and ``AWS_ENDPOINT_URL*`` come from boto3's standard chain; the sandbox
target passes its gateway URL and dummy credentials explicitly.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_sts import STSClient


@dataclass(frozen=True)
class AwsSettings:
    """How to reach AWS: everything None means boto3's defaults (env, profile, config files)."""

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    retry_mode: str = "adaptive"
    max_attempts: int = 10


@dataclass
class Aws:
    """A thread-safe cache of boto3 clients sharing one session and one retry configuration."""

    settings: AwsSettings
    _session: boto3.Session = field(init=False)
    _clients: dict[tuple[str, str], Any] = field(init=False, default_factory=dict)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        s = self.settings
        self._session = boto3.Session(
            profile_name=s.profile,
            region_name=s.region,
            aws_access_key_id=s.access_key_id,
            aws_secret_access_key=s.secret_access_key,
        )

    @property
    def region(self) -> str:
        # botocore reads AWS_DEFAULT_REGION and the profile; the other SDKs and the CLI v2 also read AWS_REGION.
        region = self.settings.region or os.environ.get("AWS_REGION") or self._session.region_name
        if not region:
            from goldsmith.errors import InputError

            raise InputError(
                "No AWS region is set: pass --region, set AWS_REGION (or AWS_DEFAULT_REGION), or set it in your "
                "profile."
            )
        return region

    def client(self, service: str, region: str | None = None) -> Any:
        region = region or self.region
        key = (service, region)
        with self._lock:
            if key not in self._clients:
                retries: Any = {"mode": self.settings.retry_mode, "max_attempts": self.settings.max_attempts}
                config = Config(
                    retries=retries,
                    connect_timeout=10,
                    read_timeout=120,
                    max_pool_connections=20,
                )
                self._clients[key] = self._session.client(
                    service,  # type: ignore[call-overload]
                    region_name=region,
                    endpoint_url=self.settings.endpoint_url,
                    config=config,
                )
            return self._clients[key]

    def ec2(self, region: str | None = None) -> EC2Client:
        return self.client("ec2", region)  # type: ignore[no-any-return]

    def ssm(self, region: str | None = None) -> SSMClient:
        return self.client("ssm", region)  # type: ignore[no-any-return]

    def kms(self, region: str | None = None) -> KMSClient:
        return self.client("kms", region)  # type: ignore[no-any-return]

    def sts(self, region: str | None = None) -> STSClient:
        return self.client("sts", region)  # type: ignore[no-any-return]
