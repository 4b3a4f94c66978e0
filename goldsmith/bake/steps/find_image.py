"""`invoke validate`: find the image to validate (an AMI id, or a recipe's newest) and the VPC to test in."""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.aws import ec2 as ec2ops
from goldsmith.bake.network import build_vpc
from goldsmith.bake.sources import newest_image_of

if TYPE_CHECKING:
    from goldsmith.bake.context import MachineContext
    from goldsmith.bake.state import BuildState
    from goldsmith.recipe.model import Build, Recipe


class FindImage:
    name = "find-image"

    def __init__(self, image_ref: str, recipe: Recipe | None, build: Build) -> None:
        self.image_ref = image_ref  # ami-... or the name of `recipe`, whose newest image is meant
        self.recipe = recipe
        self.build = build

    def run(self, state: BuildState, ctx: MachineContext) -> None:
        ec2 = ctx.aws.ec2(state.region)
        if self.image_ref.startswith("ami-") or self.recipe is None:
            image = ec2ops.describe_image(ec2, self.image_ref)
        else:
            image = newest_image_of(ec2, self.recipe)
        state.image = image
        state.facts["image_id"] = image["ImageId"]
        state.vpc_id = build_vpc(ec2, self.build)
        ctx.events.info(f"validating {image['ImageId']} ({image.get('Name', '')}) in {state.region}, "
                        f"check {state.build_id}")

    def cleanup(self, state: BuildState, ctx: MachineContext) -> None:
        return None
