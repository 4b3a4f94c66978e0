"""Promote the new image to the recipe's channel (image.channel) in every region it reached, all or none.

The last step: the image is validated, copied, shared and deprecated by now. A failure part-way puts the
regions already written back (goldsmith.images.channels.set_all), so cleanup has nothing to undo; the bake
then fails and its images are removed like any failed bake's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.images.channels import Where, promote_images

if TYPE_CHECKING:
    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.state import BuildState


class PromoteChannel:
    name = "promote-channel"

    def __init__(self, channel: str) -> None:
        self.channel = channel

    def run(self, state: BuildState, ctx: BakeContext) -> None:
        recipe = ctx.loaded.recipe
        where = Where(prefix=ctx.options.channel_prefix, delay=ctx.waits.delay)
        images = {region: artifact.image_id for region, artifact in state.artifacts.items()}
        promote_images(ctx.aws, recipe=recipe.name, channel=self.channel, images=images,
                       note=f"{recipe.name} {recipe.version} (build {state.build_id})", where=where,
                       report=ctx.events.info)
        state.channels.append(self.channel)

    def cleanup(self, state: BuildState, ctx: BakeContext) -> None:
        return None
