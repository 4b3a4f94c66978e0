"""Fail before spending money: these credentials may make the bake's calls, the source has no billing code
RegisterImage would drop, the recipe's volumes are not smaller than the source image's snapshots, the AMI name
is free in every region, the subnet and regions are usable."""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.aws import ec2 as ec2ops
from goldsmith.aws.calls import aws_call
from goldsmith.bake.billing import check_source_billing
from goldsmith.bake.network import build_vpc
from goldsmith.bake.preflight_iam import check_bake_permissions, check_implicit_encryption
from goldsmith.bake.preflight_share import check_publishing
from goldsmith.errors import PreflightError

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import ImageTypeDef

    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.sequences import Features
    from goldsmith.bake.state import BuildState
    from goldsmith.recipe.model import Volumes


class Preflight:
    name = "preflight"

    def __init__(self, features: Features) -> None:
        self.features = features

    def run(self, state: BuildState, ctx: BakeContext) -> None:
        recipe = ctx.loaded.recipe
        assert state.source_image is not None  # resolved by resolve-source
        checked = check_bake_permissions(state, ctx, self.features)
        check_source_billing(state.source_image)
        ec2 = ctx.aws.ec2(state.region)
        state.image_name = ctx.loaded.render(recipe.image.name, **state.facts)
        check_volumes_fit(ec2, recipe.volumes, state.source_image)
        check_name_free(ec2, state.image_name, state.region)
        state.vpc_id = build_vpc(ec2, recipe.build)
        wanted = sorted(set(recipe.image.regions) - {state.region})
        if wanted:
            check_regions_usable(ec2, wanted)
            for region in wanted:  # CopyImage would fail on a taken name after the whole bake
                check_name_free(ctx.aws.ec2(region), state.image_name, region)
        check_publishing(state, ctx)  # sharing, public access, KMS keys of every region, deprecation
        check_implicit_encryption(state, ctx, self.features, checked)

    def cleanup(self, state: BuildState, ctx: BakeContext) -> None:
        return None


def check_name_free(ec2: EC2Client, name: str, region: str) -> None:
    """AMI names are unique per account and region; a taken one fails RegisterImage or CopyImage."""
    taken = ec2ops.images_named(ec2, name)
    if taken:
        disabled = " (disabled, which still holds its name)" if taken[0].get("State") == "disabled" else ""
        raise PreflightError(
            f"An AMI named '{name}' already exists ({taken[0]['ImageId']}{disabled}) in {region}: "
            "change image.name (add {{ timestamp }} or bump the version) or deregister the old one."
        )


def check_regions_usable(ec2: EC2Client, regions: list[str]) -> None:
    """Every copy region exists and is enabled for this account (opt-in regions must be opted into)."""
    with aws_call("DescribeRegions"):
        known = {r["RegionName"]: r.get("OptInStatus", "") for r in ec2.describe_regions(AllRegions=True)["Regions"]}
    missing = [r for r in regions if r not in known]
    if missing:
        raise PreflightError(f"image.regions: {', '.join(missing)} not available to this account.")
    disabled = [r for r in regions if known[r] == "not-opted-in"]
    if disabled:
        raise PreflightError(
            f"image.regions: {', '.join(disabled)} not enabled for this account (opt-in region): enable it "
            "in the AWS console (Account > AWS Regions) or remove it from image.regions."
        )


def check_volumes_fit(ec2: EC2Client, volumes: Volumes, image: ImageTypeDef) -> None:
    """Each recipe volume at a device the source image maps to a snapshot (the root always) is at least as
    large as that snapshot: RunInstances refuses a smaller one (InvalidBlockDeviceMapping), but only after
    the key pair and the security group exist.

    The image's mapping gives a size at least the snapshot's, so a recipe size not below it needs no call;
    a smaller one is checked against the snapshot itself (DescribeSnapshots), or against the mapping's size
    when the snapshot is not visible to this account."""
    root = str(image.get("RootDeviceName", "/dev/xvda"))
    wanted = [("volumes.root.size", root, volumes.root.size)]
    wanted += [(f"volumes.data[{i}].size", d.device, d.size) for i, d in enumerate(volumes.data)]
    mapped = {m["DeviceName"]: m["Ebs"] for m in image.get("BlockDeviceMappings", []) if m.get("Ebs")}
    problems: list[str] = []
    for field, device, size in wanted:
        ebs = mapped.get(device)
        snapshot_id = ebs.get("SnapshotId") if ebs else None
        if ebs is None or not snapshot_id or size >= ebs.get("VolumeSize", 0):
            continue
        snapshot = ec2ops.snapshot_size(ec2, snapshot_id)
        least = snapshot if snapshot is not None else int(ebs.get("VolumeSize", 0))
        if size < least:
            what = f"snapshot {snapshot_id}" if snapshot is not None else f"mapping (snapshot {snapshot_id})"
            problems.append(
                f"{field}: {size} GiB is smaller than the source image's {device} {what} of {least} GiB: "
                f"give at least {least} (AWS refuses a volume smaller than the snapshot it is made from)."
            )
    if problems:
        image_id = image.get("ImageId", "the source image")
        raise PreflightError(f"the volumes do not fit source image {image_id}:\n" + "\n".join(problems))
