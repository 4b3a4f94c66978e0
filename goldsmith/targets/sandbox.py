"""The sandbox target: AWS played by moto behind the gateway, instances by the local runtime."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from goldsmith.aws.ec2 import Waits
from goldsmith.aws.session import Aws, AwsSettings
from goldsmith.targets.aws import AwsTarget, instance_endpoint

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import InstanceTypeDef

    from goldsmith.recipe.model import Build
    from goldsmith.sandbox.manage import SandboxInfo

DEFAULT_REGION = "us-east-1"


@dataclass
class SandboxTarget:
    state_dir: Path | None = None
    region: str | None = None
    profile: str | None = None  # another identity of the sandbox's IAM (a profile holding one of its keys)
    name: str = "sandbox"
    _info: SandboxInfo | None = field(default=None, repr=False)

    @property
    def info(self) -> SandboxInfo:
        """Bring the sandbox up on first use (idempotent; builds the base image once)."""
        if self._info is None:
            from goldsmith.sandbox import manage

            self._info = manage.up(self.state_dir or manage.default_state_dir())
        return self._info

    def aws_settings(self) -> AwsSettings:
        """The sandbox's own key, or with --profile the profile's (e.g. a user made with a policy to try)."""
        own = self.info.credentials if self.profile is None else None
        return AwsSettings(
            region=self.region or os.environ.get("AWS_REGION") or DEFAULT_REGION,
            profile=self.profile,
            endpoint_url=self.info.gateway_url,
            access_key_id=own.access_key_id if own else None,
            secret_access_key=own.secret_access_key if own else None,
            retry_mode="standard",
            max_attempts=10,
        )

    @property
    def checks_permissions(self) -> bool:
        """As on AWS: the sandbox's moto enforces IAM."""
        return True

    def waits(self, build: Build) -> Waits:
        t = build.timeouts
        return Waits(delay=0.1, instance=120.0, stop=t.stop, snapshot=t.snapshot, image=t.image)

    def builder_cidrs(self, aws: Aws, vpc_id: str, build: Build) -> list[str]:
        """As on AWS (the VPC's blocks when reached privately or through a bastion), but this machine's
        public /32 is its address on the sandbox network, where instances see its connections come from."""
        if build.ssh_cidr is None and not build.interface.startswith("private") and build.bastion is None:
            return [f"{self.info.host_address}/32"]
        return AwsTarget().builder_cidrs(aws, vpc_id, build)

    def ssh_endpoint(self, aws: Aws, instance: InstanceTypeDef, build: Build) -> tuple[str, int]:
        """As on AWS: the instance's address per build.interface, port build.ssh_port. A DNS interface gets the
        address its name stands for (what the VPC's resolver answers; this host cannot resolve *.internal)."""
        interface = _DNS_TO_ADDRESS.get(build.interface, build.interface)
        return instance_endpoint(instance, build.model_copy(update={"interface": interface}))


_DNS_TO_ADDRESS = {"private_dns": "private_ip", "public_dns": "public_ip"}
