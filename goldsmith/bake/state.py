"""BuildState: everything a run has learned or created so far, typed (no string-keyed bag).

Steps share data only through this object. A field holding a created resource is set only after the
create call succeeded, so a cleanup never deletes something it did not create. The instance steps
(key pair, security group, launch, SSH) write to the part of the state of their *role*: the build
instance, or the validation instance launched from the new image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from goldsmith.engine.runner import RunState

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import ImageTypeDef, InstanceTypeDef, LaunchPermissionTypeDef

    from goldsmith.ssh.keys import PrivateKey
    from goldsmith.ssh.session import SshSession
    from goldsmith.validate.suites import SuiteResult

Role = Literal["build", "validation"]
BUILD: Role = "build"
VALIDATION: Role = "validation"


def _no_instance() -> InstanceTypeDef:
    return {}  # until DescribeInstances says (every key of the TypedDict is optional)


def _no_image() -> ImageTypeDef:
    return {}  # until DescribeImages says


@dataclass
class Artifact:
    """The AMI in one region, with its snapshot per device."""

    region: str
    image_id: str
    snapshots: dict[str, str] = field(default_factory=dict)  # device -> snapshot id


@dataclass
class InstanceState:
    """One role's instance and its temporary access (key pair, security group, SSH session)."""

    key_name: str | None = None
    private_key: PrivateKey | None = None
    security_group_id: str | None = None
    instance_id: str | None = None
    instance: InstanceTypeDef = field(default_factory=_no_instance)
    volumes: dict[str, str] = field(default_factory=dict)  # device -> volume id
    endpoint: tuple[str, int] | None = None
    host_key: str | None = None
    ssh: SshSession | None = None
    terminating: bool = False  # TerminateInstances was sent; whoever needs it gone waits (remove_instance)
    uefi_data: str | None = None  # the build instance's UEFI variable store, read before it was terminated
    uefi_read: bool = False  # uefi_data was read (None then means: none to carry over)


@dataclass
class BuildState(RunState):
    build_id: str
    region: str
    facts: dict[str, str]
    tags: dict[str, str]  # the goldsmith:* tags every created resource carries

    source_image: ImageTypeDef | None = None
    fingerprint: str = ""  # the bake's input fingerprint (goldsmith.recipe.fingerprint), once the source is known
    reused_from: str = ""  # the build id of the image a build cache hit reused (nothing was baked)
    vpc_id: str | None = None
    instances: dict[Role, InstanceState] = field(
        default_factory=lambda: {BUILD: InstanceState(), VALIDATION: InstanceState()})

    snapshots: dict[str, str] = field(default_factory=dict)  # device -> snapshot id
    image_id: str | None = None

    @property
    def run_id(self) -> str:
        return self.build_id
    image_name: str | None = None
    image: ImageTypeDef = field(default_factory=_no_image)  # DescribeImages of image_id once available
    artifacts: dict[str, Artifact] = field(default_factory=dict)  # region -> artifact
    launch_permissions: list[LaunchPermissionTypeDef] = field(default_factory=list)
    snapshot_permissions: list[str] = field(default_factory=list)
    kms_keys: dict[str, str] = field(default_factory=dict)  # region -> key ARN checked by preflight
    deprecation_time: str = ""  # ISO 8601 UTC, set on every artifact when the recipe asks
    channels: list[str] = field(default_factory=list)  # channels this bake pointed at its images (image.channel)
    validation: dict[str, Any] = field(default_factory=dict)  # suite results, for the manifest
    contents: dict[str, Any] = field(default_factory=dict)  # record-contents' summary (os, kernel, packages, files)
    image_result: SuiteResult | None = None  # the suites' result on the instance from the image
    keep_image: bool = False  # validation failed with on_failure: keep; the failed bake keeps AMI + snapshots

    @property
    def build(self) -> InstanceState:
        """The build instance's part of the state."""
        return self.instances[BUILD]
