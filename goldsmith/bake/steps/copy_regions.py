"""Copy the validated AMI to the recipe's other regions, in parallel, before anything is shared.

Copies come before sharing so a failed copy never leaves a published image anywhere: ShareImage and
DeprecateImage then work on every region's artifact. Each copy gets the source's name, description
and tags (copies carry none), and that region's KMS key when the recipe encrypts. Every copy is
journaled (intent before CopyImage, id after) and recorded in state.artifacts the moment it exists,
so the cleanup, and `invoke clean` after a kill, remove copies still in progress.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.aws import ec2 as ec2ops
from goldsmith.aws import images
from goldsmith.aws.tags import tags_dict
from goldsmith.bake.journal import Entry
from goldsmith.bake.preflight_share import target_regions
from goldsmith.bake.state import Artifact
from goldsmith.errors import BakeError
from goldsmith.lifecycle.copy import CopyHooks, CopyRequest, RegionCopier, RegionCopy

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

    def __init__(self) -> None:
        self._copier: RegionCopier | None = None

    def run(self, state: BuildState, ctx: BakeContext) -> None:
        regions = target_regions(ctx.loaded.recipe.image, state.region)[1:]
        if not regions:
            return
        assert state.image_id is not None and state.image_name is not None
        # The description register-image waited for (kept current by validate-image's tag) saves a call.
        source = state.image or ec2ops.describe_image(ctx.aws.ec2(state.region), state.image_id)
        tags = {k: v for k, v in tags_dict(source.get("Tags")).items() if not k.startswith("aws:")}
        requests = [CopyRequest(region=r, name=state.image_name, description=str(source.get("Description", "")),
                                tags=tags, kms_key=region_key(state, ctx, r)) for r in regions]
        self._copier = RegionCopier(
            ctx.aws, source_region=state.region, source_image_id=state.image_id, requests=requests,
            timeout=float(ctx.loaded.recipe.build.timeouts.copy), delay=ctx.waits.delay,
            token=f"{state.build_id}-copy", hooks=self._hooks(state, ctx))
        ctx.events.info(f"copying {state.image_id} to {', '.join(regions)}")
        self._copier.run()

    def _hooks(self, state: BuildState, ctx: BakeContext) -> CopyHooks:
        def before(request: CopyRequest) -> Entry:
            return ctx.journal.intent("image", request.region, request.name)

        def copied(request: CopyRequest, image_id: str, entry: object) -> None:
            assert isinstance(entry, Entry)
            ctx.journal.created(entry, image_id)
            state.artifacts[request.region] = Artifact(request.region, image_id, {})
            ctx.events.info(f"copy to {request.region}: {image_id} started")

        def finished(copy: RegionCopy) -> None:
            entry = ctx.journal.intent("snapshot", copy.region, f"snapshots of {copy.image_id}")
            ctx.journal.created_many(entry, {f"{copy.image_id}:{d}": s for d, s in copy.snapshots.items()})
            state.artifacts[copy.region] = Artifact(copy.region, copy.image_id, dict(copy.snapshots))
            ctx.events.info(f"copy to {copy.region}: {copy.image_id} available")

        return CopyHooks(before_copy=before, copied=copied, finished=finished)

    def cleanup(self, state: BuildState, ctx: BakeContext) -> None:
        """All or nothing: when the bake did not succeed, every copy it started goes, with its snapshots."""
        if self._copier is None or state.outcome == "succeeded":
            return
        self._copier.stop()
        self._copier.join()  # a worker inside CopyImage records its copy before returning
        problems: list[str] = []
        for region, artifact in list(state.artifacts.items()):
            if region == state.region:
                continue
            try:
                deleted = images.remove_image(ctx.aws.ec2(region), artifact.image_id, list(artifact.snapshots.values()))
            except Exception as exc:
                problems.append(f"image {artifact.image_id} in {region} (and its snapshots): {exc}")
                continue
            ctx.journal.deleted("image", artifact.image_id)
            for snapshot_id in deleted:
                ctx.journal.deleted("snapshot", snapshot_id)
            del state.artifacts[region]
            ctx.events.info(f"removed copy {artifact.image_id} in {region} and snapshots {', '.join(deleted)}")
        if problems:
            raise BakeError("delete manually: " + "; ".join(problems))
