"""The Target protocol: where a bake runs (real AWS or the sandbox) and how it reaches instances.

Steps ask the target for an instance's SSH endpoint and the builder's address, so no step has a
special case for the sandbox.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import InstanceTypeDef

    from goldsmith.aws.ec2 import Waits
    from goldsmith.aws.session import Aws, AwsSettings
    from goldsmith.recipe.model import Build


class Target(Protocol):
    name: str

    @property
    def checks_permissions(self) -> bool:
        """Whether the bake asks IAM before launching if these credentials may make its calls (real AWS
        always; the sandbox when it enforces IAM)."""
        ...

    def aws_settings(self) -> AwsSettings:
        """How to reach the EC2 API (endpoint, credentials, region, retry and polling)."""
        ...

    def waits(self, build: Build) -> Waits:
        """Timeouts and poll interval for state changes."""
        ...

    def builder_cidrs(self, aws: Aws, vpc_id: str, build: Build) -> list[str]:
        """The address ranges SSH is opened to: build.ssh_cidr, else this machine's /32 (or what reaches
        the instance privately)."""
        ...

    def ssh_endpoint(self, aws: Aws, instance: InstanceTypeDef, build: Build) -> tuple[str, int]:
        """Host and port to reach this instance's SSH server."""
        ...
