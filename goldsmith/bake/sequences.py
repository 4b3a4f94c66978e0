"""The sequences (molecule-style): BAKE and VALIDATE_IMAGE, built once per run from the recipe.

A step the recipe turns off is left out (as Packer's builder does), so the log and the manifest list
only what ran. The instance steps appear in both sequences, in the build role and in the validation
role, configured by an InstanceSpec each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goldsmith.bake.machines import InstanceSpec
from goldsmith.bake.state import BUILD, VALIDATION
from goldsmith.bake.steps.apply_retention import ApplyRetention
from goldsmith.bake.steps.check_cache import CheckCache
from goldsmith.bake.steps.copy_regions import CopyRegions
from goldsmith.bake.steps.create_key_pair import CreateKeyPair
from goldsmith.bake.steps.create_security_group import CreateSecurityGroup
from goldsmith.bake.steps.deprecate_image import DeprecateImage
from goldsmith.bake.steps.find_image import FindImage
from goldsmith.bake.steps.launch_instance import LaunchInstance
from goldsmith.bake.steps.mount_volumes import MountVolumes
from goldsmith.bake.steps.preflight import Preflight
from goldsmith.bake.steps.promote_channel import PromoteChannel
from goldsmith.bake.steps.provision import Provision
from goldsmith.bake.steps.record_contents import RecordContents
from goldsmith.bake.steps.register_image import RegisterImage
from goldsmith.bake.steps.release_instance import ReleaseInstance
from goldsmith.bake.steps.resolve_source import ResolveSource
from goldsmith.bake.steps.share_image import ShareImage
from goldsmith.bake.steps.snapshot_volumes import SnapshotVolumes
from goldsmith.bake.steps.stop_instance import StopInstance
from goldsmith.bake.steps.validate_build import ValidateBuild
from goldsmith.bake.steps.validate_image import ValidateImage
from goldsmith.bake.steps.wait_for_ssh import WaitForSsh
from goldsmith.engine.runner import Sequence, Step
from goldsmith.recipe.model import Build
from goldsmith.ssh.keys import PrivateKey
from goldsmith.validate.plan import SuitePlan

if TYPE_CHECKING:
    from goldsmith.bake.context import BakeContext, MachineContext
    from goldsmith.bake.state import BuildState
    from goldsmith.recipe.loader import LoadedRecipe

BAKE = "bake"
VALIDATE_IMAGE = "validate-image"


@dataclass(frozen=True)
class Features:
    """The optional parts of a bake, each on or off by the recipe (and the build region)."""

    mount_volumes: bool = True
    validate_build: bool = True
    validate_image: bool = True
    copy_regions: tuple[str, ...] = ()  # the recipe's regions but the build's
    share: bool = True
    deprecate: bool = True
    channel: str | None = None  # image.channel: promote after a successful bake
    retention: bool = False  # image.retention: retire old builds after a successful bake

    @classmethod
    def of(cls, loaded: LoadedRecipe, build_region: str, extra_suites: tuple[str, ...]) -> Features:
        from goldsmith.aws.sharing import launch_permission_entries
        from goldsmith.bake.preflight_share import target_regions
        from goldsmith.validate.plan import suites_of

        recipe = loaded.recipe
        image = recipe.image
        share = image.share
        suites = bool(suites_of(loaded, extra_suites))
        return cls(
            mount_volumes=any(d.mount for d in recipe.volumes.data),
            validate_build=suites and recipe.validate_.on_build,
            validate_image=suites,
            copy_regions=tuple(target_regions(image, build_region)[1:]),
            share=bool(launch_permission_entries(share.accounts, share.organizations, share.ous, share.public)),
            deprecate=image.deprecate_at is not None or image.deprecate_after is not None,
            channel=image.channel,
            retention=image.retention is not None,
        )


def bastion_key(loaded: LoadedRecipe) -> PrivateKey | None:
    """The key file the recipe names for its bastion (a path in the project), or None."""
    b = loaded.recipe.build.bastion
    return PrivateKey.from_file(loaded.resolve(b.private_key_file)) if b and b.private_key_file else None


def instance_steps(spec: InstanceSpec) -> list[Step[BuildState, Any]]:
    """Key pair, security group (builder /32 only), launch, SSH with the host key pinned."""
    return [CreateKeyPair(spec), CreateSecurityGroup(spec), LaunchInstance(spec), WaitForSsh(spec)]


def bake(loaded: LoadedRecipe, features: Features, *, work_dir: Path = Path(".goldsmith"),
         extra_suites: tuple[str, ...] = (), key: PrivateKey | None = None,
         cache: bool = False) -> Sequence[BuildState, BakeContext]:
    """The full bake; validation comes before anything is copied or shared. With `cache`, a reusable
    image of the same input fingerprint ends the run right after resolve-source (check-cache)."""
    recipe = loaded.recipe
    build = InstanceSpec(BUILD, recipe.build, recipe.build.instance_type, volumes=recipe.volumes,
                         encrypt=recipe.image.encrypt, bastion_key=key, label=f"build {recipe.name}")
    validation = InstanceSpec(VALIDATION, recipe.build, recipe.validate_.instance_type or recipe.build.instance_type,
                              bastion_key=key, label="validate", ingress=tuple(recipe.validate_.ingress))

    def image_plan(state: BuildState) -> SuitePlan:
        from goldsmith.validate.plan import plan_for

        return plan_for(loaded, facts={**state.facts, "image_id": state.image["ImageId"]},
                        extra_suites=extra_suites, junit_path=work_dir / "reports" / f"{state.build_id}-image.xml")

    steps: list[Step[BuildState, Any]] = [ResolveSource(), *([CheckCache()] if cache else []), Preflight(features),
                                          *instance_steps(build)]
    steps += [MountVolumes()] if features.mount_volumes else []
    steps += [Provision(build)]
    steps += [ValidateBuild(build)] if features.validate_build else []  # fail fast, before the stop
    steps += [RecordContents(build)]  # what is inside the image (packages, kernel, SBOM), read before the stop
    steps += [StopInstance(), SnapshotVolumes(), RegisterImage(validated=features.validate_image)]
    if features.validate_image:  # an instance FROM the new AMI; nothing is shared before it passes
        steps += [*instance_steps(validation),
                  ValidateImage(validation, image_plan, on_failure=recipe.validate_.on_failure),
                  ReleaseInstance(validation)]
    # Every region's copy exists before anything is shared (all or nothing).
    steps += [CopyRegions(features.copy_regions)] if features.copy_regions else []
    steps += [ShareImage()] if features.share else []
    steps += [DeprecateImage()] if features.deprecate else []
    steps += [PromoteChannel(features.channel)] if features.channel else []
    steps += [ApplyRetention()] if features.retention else []  # after promoting: the channel protects the new image
    return Sequence(BAKE, tuple(steps))


def validate_image(image_ref: str, loaded: LoadedRecipe | None, build: Build, instance_type: str,
                   plan: Callable[[BuildState], SuitePlan]) -> Sequence[BuildState, MachineContext]:
    """`invoke validate`: the validation instance steps around the suites, for an existing image."""
    spec = InstanceSpec(VALIDATION, build, instance_type, bastion_key=bastion_key(loaded) if loaded else None,
                        label="validate", ingress=tuple(loaded.recipe.validate_.ingress) if loaded else ())
    steps: list[Step[BuildState, Any]] = [
        FindImage(image_ref, loaded.recipe if loaded else None, build), *instance_steps(spec),
        ValidateImage(spec, plan, record=False), ReleaseInstance(spec),
    ]
    return Sequence(VALIDATE_IMAGE, tuple(steps))


def step_names(loaded: LoadedRecipe, build_region: str) -> tuple[str, ...]:
    """The names of the steps a bake of this recipe runs, in order (what the kill matrix kills)."""
    return bake(loaded, Features.of(loaded, build_region, ())).step_names
