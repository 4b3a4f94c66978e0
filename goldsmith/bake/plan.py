"""The bake as data: the ordered list of steps (molecule-style), and the names of each."""

from __future__ import annotations

from goldsmith.bake.runner import Step
from goldsmith.bake.steps.copy_regions import CopyRegions
from goldsmith.bake.steps.create_key_pair import CreateKeyPair
from goldsmith.bake.steps.create_security_group import CreateSecurityGroup
from goldsmith.bake.steps.deprecate_image import DeprecateImage
from goldsmith.bake.steps.launch_instance import LaunchInstance
from goldsmith.bake.steps.mount_volumes import MountVolumes
from goldsmith.bake.steps.preflight import Preflight
from goldsmith.bake.steps.provision import Provision
from goldsmith.bake.steps.register_image import RegisterImage
from goldsmith.bake.steps.resolve_source import ResolveSource
from goldsmith.bake.steps.share_image import ShareImage
from goldsmith.bake.steps.snapshot_volumes import SnapshotVolumes
from goldsmith.bake.steps.stop_instance import StopInstance
from goldsmith.bake.steps.validate_build import ValidateBuild
from goldsmith.bake.steps.validate_image import ValidateImage
from goldsmith.bake.steps.wait_for_ssh import WaitForSsh


def bake_steps() -> list[Step]:
    """Every step of a full bake, in order. Validation comes before anything is shared or copied."""
    return [
        ResolveSource(),
        Preflight(),
        CreateKeyPair(),
        CreateSecurityGroup(),
        LaunchInstance(),
        WaitForSsh(),
        MountVolumes(),
        Provision(),
        ValidateBuild(),  # only with validate.on_build: fail fast, before the stop
        StopInstance(),
        SnapshotVolumes(),
        RegisterImage(),
        ValidateImage(),  # an instance from the new AMI; nothing is shared before it passes
        CopyRegions(),  # every region's copy exists before anything is shared (all or nothing)
        ShareImage(),
        DeprecateImage(),
    ]


STEP_NAMES = tuple(step.name for step in bake_steps())
