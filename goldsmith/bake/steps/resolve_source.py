"""Resolve the source AMI: an id, a filter (newest wins), or the newest image of another recipe; or the AMI a
pipeline pinned (its upstream recipe's image of the same run).

Once the source is known, so is the bake's input fingerprint (it hashes the source AMI id): every
resource, the AMI included, is tagged goldsmith:fingerprint from creation, so the build cache finds it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.aws import ec2 as ec2ops
from goldsmith.aws.tags import FINGERPRINT_TAG, SOURCE_AMI_TAG
from goldsmith.bake.sources import source_image
from goldsmith.images.cache import recipe_fingerprint

if TYPE_CHECKING:
    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.state import BuildState


class ResolveSource:
    name = "resolve-source"

    def run(self, state: BuildState, ctx: BakeContext) -> None:
        ec2 = ctx.aws.ec2(state.region)
        pinned = ctx.options.source_image_id
        image = ec2ops.describe_image(ec2, pinned) if pinned else source_image(ec2, ctx.loaded)
        state.source_image = image
        state.facts["source_ami"] = image["ImageId"]
        state.facts["source_ami_name"] = image.get("Name", "")
        state.tags[SOURCE_AMI_TAG] = image["ImageId"]
        state.fingerprint = recipe_fingerprint(ctx.loaded, image["ImageId"], ctx.options.work_dir)
        state.tags[FINGERPRINT_TAG] = state.fingerprint
        ctx.events.info(f"source AMI {image['ImageId']} ({image.get('Name', '')})")

    def cleanup(self, state: BuildState, ctx: BakeContext) -> None:
        return None
