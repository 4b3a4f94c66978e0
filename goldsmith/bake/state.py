"""BuildState: everything a bake has learned or created so far, typed (no string-keyed bag).

Steps share data only through this object. A field holding a created resource is set only after the
create call succeeded, so a cleanup never deletes something it did not create.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from goldsmith.ssh.keys import PrivateKey
    from goldsmith.ssh.session import SshSession


@dataclass
class StepRecord:
    name: str
    started_at: float
    duration: float = 0.0
    status: str = "running"  # running | ok | failed | interrupted


@dataclass
class Artifact:
    """The AMI in one region, with its snapshot per device."""

    region: str
    image_id: str
    snapshots: dict[str, str] = field(default_factory=dict)  # device -> snapshot id


@dataclass
class BuildState:
    build_id: str
    region: str
    facts: dict[str, str]
    tags: dict[str, str]  # the goldsmith:* tags every created resource carries

    source_image: dict[str, Any] | None = None

    key_name: str | None = None
    private_key: PrivateKey | None = None
    vpc_id: str | None = None
    security_group_id: str | None = None

    instance_id: str | None = None
    instance: dict[str, Any] = field(default_factory=dict)
    volumes: dict[str, str] = field(default_factory=dict)  # device -> volume id
    endpoint: tuple[str, int] | None = None
    host_key: str | None = None
    ssh: SshSession | None = None

    snapshots: dict[str, str] = field(default_factory=dict)  # device -> snapshot id
    image_id: str | None = None
    image_name: str | None = None
    image: dict[str, Any] = field(default_factory=dict)  # DescribeImages of image_id once available
    artifacts: dict[str, Artifact] = field(default_factory=dict)  # region -> artifact
    launch_permissions: list[dict[str, str]] = field(default_factory=list)
    snapshot_permissions: list[str] = field(default_factory=list)
    kms_keys: dict[str, str] = field(default_factory=dict)  # region -> key ARN checked by preflight
    deprecation_time: str = ""  # ISO 8601 UTC, set on every artifact when the recipe asks
    validation: dict[str, Any] = field(default_factory=dict)
    keep_image: bool = False  # validation failed with on_failure: keep; the failed bake keeps AMI + snapshots

    steps: list[StepRecord] = field(default_factory=list)
    outcome: str = "running"  # running | succeeded | failed | interrupted
    error: str = ""
