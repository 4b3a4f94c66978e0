"""AWS sessions and clients with one retry policy, cached per (service, region).

Credentials, profiles, regions and ``AWS_ENDPOINT_URL*`` come from the SDK's standard chain; the sandbox
target passes its gateway URL and its credentials explicitly.

The clients are botocore's, made from a botocore session: boto3.Session adds resources and S3 transfers,
which Goldsmith does not use, and importing boto3 imports s3transfer (a third of boto3's import time, paid
by every bake). A boto3 client *is* this botocore client; the chain, retries and endpoints are botocore's.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import ProfileNotFound

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
    """How to reach AWS: everything None means the SDK's defaults (env, profile, config files)."""

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    # AWS's recommended mode for most uses; adaptive (client-side rate limiting) is for special cases.
    retry_mode: Literal["legacy", "standard", "adaptive"] = "standard"
    max_attempts: int = 10


_LOADER: botocore.loaders.Loader | None = None
_FULL_LOADER: botocore.loaders.Loader | None = None
_LOADER_LOCK = threading.Lock()
# Client creation, one at a time in the process: the loader's cache has no lock, so ten bakes starting together
# each parsed EC2's model and endpoint rules themselves (10 bakes x 3 regions: 4.5 s of CPU instead of 0.9 s).
# Making a client is pure Python under the GIL anyway, so serialising it costs no parallelism.
_CREATE_LOCK = threading.Lock()


def shared_loader() -> botocore.loaders.Loader:
    """One botocore data loader for the process: it caches the service models it reads, so the bakes of
    a pipeline (each with its own session) read EC2's model once, not once each. The models are trimmed to
    the operations Goldsmith calls (goldsmith/aws/models.py)."""
    global _LOADER
    with _LOADER_LOCK:
        if _LOADER is None:
            from goldsmith.aws.models import TrimmedLoader, operations_called

            _LOADER = TrimmedLoader(operations_called())
        return _LOADER


def full_loader() -> botocore.loaders.Loader:
    """One loader of botocore's whole models, for `Aws(full_models=True)`."""
    global _FULL_LOADER
    with _LOADER_LOCK:
        if _FULL_LOADER is None:
            _FULL_LOADER = botocore.loaders.create_loader(os.environ.get("AWS_DATA_PATH"))
        return _FULL_LOADER


@dataclass
class Aws:
    """A thread-safe cache of clients sharing one session and one retry configuration.

    Each accessor returns its stub type (`EC2Client`, ...). Clients know only the operations Goldsmith
    calls; `full_models` gives them every operation (tests preparing resources the product never creates).
    """

    settings: AwsSettings
    full_models: bool = False
    _session: botocore.session.Session = field(init=False)
    _clients: dict[tuple[str, str], BaseClient] = field(init=False, default_factory=dict)
    _identity: Identity | None = field(init=False, default=None)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    _sent: Counter[str] = field(init=False, default_factory=Counter)
    _sent_lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        s = self.settings
        core = botocore.session.Session(profile=s.profile)
        core.register_component("data_loader", full_loader() if self.full_models else shared_loader())
        core.user_agent_extra = "goldsmith"
        core.register("before-send", self._count)  # every client of this session inherits it
        if s.region:
            core.set_config_variable("region", s.region)
        if s.access_key_id or s.secret_access_key:
            core.set_credentials(s.access_key_id or "", s.secret_access_key or "")
        try:  # a profile (--profile or AWS_PROFILE) missing from the config files: say so before any call
            core.get_scoped_config()
        except ProfileNotFound as exc:
            from goldsmith.errors import InputError

            raise InputError(f"{exc} (profiles in your AWS config and credentials files: "
                             f"{', '.join(sorted(core.available_profiles)) or 'none'}).") from exc
        self._session = core

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
        region = self.settings.region or os.environ.get("AWS_REGION") or self._region_from_config()
        if not region:
            from goldsmith.errors import InputError

            raise InputError(
                "No AWS region is set: pass --region, set AWS_REGION (or AWS_DEFAULT_REGION), or set it in your "
                "profile."
            )
        return region

    def _region_from_config(self) -> str | None:
        try:
            return self._session.get_config_variable("region")  # type: ignore[no-any-return]
        except ProfileNotFound:
            return None

    def _config(self) -> Config:
        return Config(
            retries={"mode": self.settings.retry_mode, "max_attempts": self.settings.max_attempts},
            connect_timeout=10,
            read_timeout=120,
            max_pool_connections=20,
        )

    def _client(self, service: str, region: str | None) -> BaseClient:
        """botocore's client for (service, region), made once: clients are thread-safe and hold the pool."""
        region = region or self.region
        with self._lock:
            if (service, region) not in self._clients:
                with _CREATE_LOCK:
                    self._clients[service, region] = self._session.create_client(
                        service, region_name=region, endpoint_url=self.settings.endpoint_url, config=self._config())
            return self._clients[service, region]

    # The stub types (boto3-stubs) describe these very clients: boto3's client() returns create_client()'s.
    def ec2(self, region: str | None = None) -> EC2Client:
        return cast("EC2Client", self._client("ec2", region))

    def ssm(self, region: str | None = None) -> SSMClient:
        return cast("SSMClient", self._client("ssm", region))

    def kms(self, region: str | None = None) -> KMSClient:
        return cast("KMSClient", self._client("kms", region))

    def sts(self, region: str | None = None) -> STSClient:
        return cast("STSClient", self._client("sts", region))

    def iam(self) -> IAMClient:
        """IAM is global: one client, signed for the default region."""
        return cast("IAMClient", self._client("iam", None))

    def identity(self) -> Identity:
        """Who these credentials are (GetCallerIdentity, asked once per Aws)."""
        from goldsmith.aws.iam import caller_identity

        if self._identity is None:
            self._identity = caller_identity(self.sts())
        return self._identity
