"""Register the AMI from the snapshots, with an explicit block device mapping, named and tagged; the source's
TpmSupport and the build instance's UEFI variable store carried over, the billing code checked."""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.aws import creates
from goldsmith.aws import ec2 as ec2ops
from goldsmith.aws.tags import VALIDATION_TAG, tag_specs
from goldsmith.bake.billing import check_image_billing
from goldsmith.bake.machines import build_uefi_data
from goldsmith.bake.mappings import image_mappings
from goldsmith.bake.state import Artifact
from goldsmith.engine.signals import create_then_record

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import ImageTypeDef, RegisterImageRequestTypeDef

    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.state import BuildState


def image_tags(state: BuildState, ctx: BakeContext, *, validated: bool = True) -> dict[str, str]:
    """The recipe's tags (rendered) plus Goldsmith's own. An image no suite will validate says so from
    creation (goldsmith:validation=none), so the build cache can tell it from one whose bake stopped
    before its validation recorded a result (no tag: never reused)."""
    rendered = {k: ctx.loaded.render(v, **state.facts) for k, v in ctx.loaded.recipe.image.tags.items()}
    tags = {**rendered, **state.tags}
    if not validated:
        tags[VALIDATION_TAG] = "none"
    return tags


def register_params(state: BuildState, ctx: BakeContext, uefi_data: str | None = None, *,
                    validated: bool = True) -> RegisterImageRequestTypeDef:
    recipe = ctx.loaded.recipe
    assert state.image_name is not None  # named by preflight
    source: ImageTypeDef = state.source_image or {}
    root_device = source.get("RootDeviceName", "/dev/xvda")
    params: RegisterImageRequestTypeDef = {
        "Name": state.image_name,
        "Description": ctx.loaded.render(recipe.image.description, **state.facts) if recipe.image.description
        else f"{recipe.name} {recipe.version} baked by Goldsmith ({state.build_id})",
        "Architecture": source.get("Architecture", "x86_64"),
        "RootDeviceName": root_device,
        "VirtualizationType": "hvm",
        "BlockDeviceMappings": image_mappings(recipe.volumes, root_device, state.snapshots, source),
        "EnaSupport": bool(source.get("EnaSupport", True)),
        "ImdsSupport": "v2.0",
        "TagSpecifications": tag_specs(["image"], image_tags(state, ctx, validated=validated)),
    }
    if source.get("BootMode"):
        params["BootMode"] = source["BootMode"]
    if source.get("SriovNetSupport"):
        params["SriovNetSupport"] = source["SriovNetSupport"]
    if source.get("TpmSupport"):
        params["TpmSupport"] = source["TpmSupport"]
    if uefi_data:
        params["UefiData"] = uefi_data
    return params


class RegisterImage:
    name = "register-image"

    def __init__(self, *, validated: bool = True) -> None:
        self.validated = validated  # suites will validate the image (else it is tagged validation=none)

    def run(self, state: BuildState, ctx: BakeContext) -> None:
        ec2 = ctx.aws.ec2(state.region)
        params = register_params(state, ctx, build_uefi_data(state, ctx), validated=self.validated)
        entry = ctx.journal.intent("image", state.region, params["Name"])
        with create_then_record():
            state.image_id = creates.register_image(ec2, params, waits=ctx.waits)
            ctx.journal.created(entry, state.image_id)
        state.artifacts[state.region] = Artifact(state.region, state.image_id, dict(state.snapshots))
        state.image = ec2ops.wait_image(ec2, state.image_id, ctx.waits)
        ctx.events.info(f"registered {state.image_id} '{params['Name']}'")
        note = check_image_billing(state.source_image or {}, state.image)  # BakeError: the cleanup removes it
        if note:
            ctx.events.info(f"billing not compared: {note}")

    def cleanup(self, state: BuildState, ctx: BakeContext) -> None:
        if state.outcome == "succeeded" or state.image_id is None or state.keep_image:
            return
        ec2ops.deregister_image(ctx.aws.ec2(state.region), state.image_id)
        ctx.journal.deleted("image", state.image_id)
        state.artifacts.pop(state.region, None)
        state.image_id = None
