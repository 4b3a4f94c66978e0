"""Copy the validated AMI to the recipe's other regions, in parallel, before anything is shared.

Copies come before sharing so a failed copy never leaves a published image anywhere: ShareImage and
DeprecateImage then work on every region's artifact. Each copy gets the source's name, description
and tags (copies carry none), and that region's KMS key when the recipe encrypts. Every copy is
journaled (intent before CopyImage, id after) and recorded in state.artifacts the moment it exists,
so the cleanup, and `invoke clean` after a kill, remove copies still in progress.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from goldsmith.aws import ec2 as ec2ops
from goldsmith.aws.tags import tags_dict
from goldsmith.bake.state import Artifact
from goldsmith.errors import BakeError
from goldsmith.images.copy import CopyHooks, CopyRequest, RegionCopier, RegionCopy, journal_hooks

if TYPE_CHECKING:
    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.state import BuildState


def region_key(state: BuildState, ctx: BakeContext, region: str) -> str | None:
    """The key preflight checked for the region, else the recipe's (None: the recipe does not encrypt)."""
    encrypt = ctx.loaded.recipe.image.encrypt
    if encrypt is None:
        return None
    return state.kms_keys.get(region) or encrypt.regions.get(region)


class CopyRegions:
    name = "copy-regions"

    def __init__(self, regions: Sequence[str]) -> None:
        self.regions = list(regions)  # the recipe's regions but the build's (the step is left out without any)
        self._copier: RegionCopier | None = None

    def run(self, state: BuildState, ctx: BakeContext) -> None:
        regions = self.regions
        assert state.image_id is not None and state.image_name is not None
        # The description register-image waited for (kept current by validate-image's tag) saves a call.
        source = state.image or ec2ops.describe_image(ctx.aws.ec2(state.region), state.image_id)
        tags = {k: v for k, v in tags_dict(source.get("Tags")).items() if not k.startswith("aws:")}
        requests = [CopyRequest(region=r, name=state.image_name, description=str(source.get("Description", "")),
                                tags=tags, kms_key=region_key(state, ctx, r)) for r in regions]
        self._copier = RegionCopier(
            ctx.aws, source_region=state.region, source_image_id=state.image_id, requests=requests,
            timeout=float(ctx.loaded.recipe.build.timeouts.copy), delay=ctx.waits.delay,
            token=f"{state.build_id}-copy", hooks=self._hooks(state, ctx), cancel=ctx.cancel)
        ctx.events.info(f"copying {state.image_id} to {', '.join(regions)}")
        self._copier.run()

    def _hooks(self, state: BuildState, ctx: BakeContext) -> CopyHooks:
        """Journal every copy (as `invoke copy` does) and record it as an artifact the moment it exists."""
        journaled = journal_hooks(ctx.journal)

        def copied(request: CopyRequest, image_id: str, entry: object) -> None:
            journaled.copied(request, image_id, entry)
            state.artifacts[request.region] = Artifact(request.region, image_id, {})
            ctx.events.info(f"copy to {request.region}: {image_id} started")

        def finished(copy: RegionCopy) -> None:
            journaled.finished(copy)
            state.artifacts[copy.region] = Artifact(copy.region, copy.image_id, dict(copy.snapshots))
            ctx.events.info(f"copy to {copy.region}: {copy.image_id} available")

        return CopyHooks(before_copy=journaled.before_copy, copied=copied, finished=finished)

    def cleanup(self, state: BuildState, ctx: BakeContext) -> None:
        """All or nothing: when the bake did not succeed, every copy it started goes, with its snapshots."""
        if self._copier is None or state.outcome == "succeeded":
            return

        def removed(copy: RegionCopy, snapshots: list[str]) -> None:
            ctx.journal.deleted("image", copy.image_id)
            for snapshot_id in snapshots:
                ctx.journal.deleted("snapshot", snapshot_id)
            state.artifacts.pop(copy.region, None)
            ctx.events.info(f"removed copy {copy.image_id} in {copy.region} and snapshots {', '.join(snapshots)}")

        problems = self._copier.remove_all(removed)
        if problems:
            raise BakeError("delete manually: " + "; ".join(problems))
