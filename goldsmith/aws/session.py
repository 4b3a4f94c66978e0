"""boto3 sessions and clients with one retry policy, cached per (service, region).

Credentials, profiles, regions and ``AWS_ENDPOINT_URL*`` come from boto3's standard chain; the sandbox
target passes its gateway URL and dummy credentials explicitly.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_sts import STSClient

    from goldsmith.aws.iam import Identity


@dataclass(frozen=True)
class AwsSettings:
    """How to reach AWS: everything None means boto3's defaults (env, profile, config files)."""

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    # AWS's recommended mode for most uses; adaptive (client-side rate limiting) is for special cases.
    retry_mode: Literal["legacy", "standard", "adaptive"] = "standard"
    max_attempts: int = 10


_Client = TypeVar("_Client", bound="BaseClient")

_LOADER: botocore.loaders.Loader | None = None
_LOADER_LOCK = threading.Lock()


def shared_loader() -> botocore.loaders.Loader:
    """One botocore data loader for the process: it caches the service models it parses, so the bakes of
    a pipeline (each with its own session) parse EC2's large model once, not once each (~25 MB apiece)."""
    global _LOADER
    with _LOADER_LOCK:
        if _LOADER is None:
            _LOADER = botocore.loaders.create_loader()
        return _LOADER


@dataclass
class Aws:
    """A thread-safe cache of boto3 clients sharing one session and one retry configuration.

    One cache per service, so each accessor returns its stub type (`EC2Client`, ...) without a cast.
    """

    settings: AwsSettings
    _session: boto3.Session = field(init=False)
    _ec2: dict[str, EC2Client] = field(init=False, default_factory=dict)
    _ssm: dict[str, SSMClient] = field(init=False, default_factory=dict)
    _kms: dict[str, KMSClient] = field(init=False, default_factory=dict)
    _sts: dict[str, STSClient] = field(init=False, default_factory=dict)
    _iam: dict[str, IAMClient] = field(init=False, default_factory=dict)
    _identity: Identity | None = field(init=False, default=None)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    _sent: Counter[str] = field(init=False, default_factory=Counter)
    _sent_lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        s = self.settings
        core = botocore.session.get_session()
        core.register_component("data_loader", shared_loader())
        core.register("before-send", self._count)  # every client of this session inherits it
        self._session = boto3.Session(
            botocore_session=core,
            profile_name=s.profile,
            region_name=s.region,
            aws_access_key_id=s.access_key_id,
            aws_secret_access_key=s.secret_access_key,
        )
        with _LOADER_LOCK:  # boto3 appends its data path to the loader's search paths once per session
            paths = core.get_component("data_loader").search_paths
            paths[:] = list(dict.fromkeys(paths))

    def _count(self, event_name: str = "", **kwargs: Any) -> None:
        """botocore's before-send.<service>.<Operation>: one HTTP request about to go (retries count too)."""
        service, _, operation = event_name.removeprefix("before-send.").partition(".")
        with self._sent_lock:
            self._sent[f"{service}:{operation}"] += 1

    def requests(self) -> dict[str, int]:
        """How many requests this session's clients sent, per service:Operation (ec2:RunInstances: 1)."""
        with self._sent_lock:
            return dict(sorted(self._sent.items()))

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

    def _config(self) -> Config:
        return Config(
            retries={"mode": self.settings.retry_mode, "max_attempts": self.settings.max_attempts},
            connect_timeout=10,
            read_timeout=120,
            max_pool_connections=20,
        )

    def _cached(self, cache: dict[str, _Client], region: str | None, make: Callable[[str], _Client]) -> _Client:
        region = region or self.region
        with self._lock:
            if region not in cache:
                cache[region] = make(region)
            return cache[region]

    def ec2(self, region: str | None = None) -> EC2Client:
        return self._cached(self._ec2, region, lambda r: self._session.client(
            "ec2", region_name=r, endpoint_url=self.settings.endpoint_url, config=self._config()))

    def ssm(self, region: str | None = None) -> SSMClient:
        return self._cached(self._ssm, region, lambda r: self._session.client(
            "ssm", region_name=r, endpoint_url=self.settings.endpoint_url, config=self._config()))

    def kms(self, region: str | None = None) -> KMSClient:
        return self._cached(self._kms, region, lambda r: self._session.client(
            "kms", region_name=r, endpoint_url=self.settings.endpoint_url, config=self._config()))

    def sts(self, region: str | None = None) -> STSClient:
        return self._cached(self._sts, region, lambda r: self._session.client(
            "sts", region_name=r, endpoint_url=self.settings.endpoint_url, config=self._config()))

    def iam(self) -> IAMClient:
        """IAM is global: one client, signed for the default region."""
        return self._cached(self._iam, None, lambda r: self._session.client(
            "iam", region_name=r, endpoint_url=self.settings.endpoint_url, config=self._config()))

    def identity(self) -> Identity:
        """Who these credentials are (GetCallerIdentity, asked once per Aws)."""
        from goldsmith.aws.iam import caller_identity

        if self._identity is None:
            self._identity = caller_identity(self.sts())
        return self._identity
