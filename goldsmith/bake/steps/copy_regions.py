"""Copy the AMI to the recipe's other regions, in parallel, while it is validated; nothing is shared before
validation passed and every copy is available.

A cross-region copy takes minutes and so does validation: `copy-regions` starts the copies as soon as the
image is available in the build region (right after register-image) and returns; `finish-copies`, after
validation, waits for them. Until then the copies are private (CopyImage copies no launch permission) and
carry no goldsmith:validation=passed tag: finish-copies tags them (and their snapshots) once validation has
passed. If validation fails, or anything else does, copy-regions' cleanup removes every copy it started,
finished or not, with its snapshots: all or nothing, as before. Copies still come before sharing, so a failed
copy never leaves a published image anywhere: ShareImage and DeprecateImage then work on every region's
artifact. Each copy gets the source's name, description and tags (copies carry none), and that region's KMS
key when the recipe encrypts. Every copy is journaled (intent before CopyImage, id after) and recorded in
state.artifacts the moment it exists, so the cleanup, and `invoke clean` after a kill, remove copies still in
progress.

The two steps share the copier: FinishCopies is made from its CopyRegions (the sequence builds them together).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from goldsmith.aws import ec2 as ec2ops
from goldsmith.aws.images import tag_validation
from goldsmith.aws.tags import VALIDATION_TAG, tags_dict
from goldsmith.aws.wait_log import record_wait
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
            token=f"{state.build_id}-copy", hooks=self._hooks(state, ctx), cancel=ctx.cancel,
            poll=ctx.waits.poll("copy"), log=ctx.waits.log)
        ctx.events.info(f"copying {state.image_id} to {', '.join(regions)} (in the background)")
        self._copier.start()

    @property
    def copier(self) -> RegionCopier | None:
        return self._copier

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


class FinishCopies:
    """Wait for the copies copy-regions started; once validation passed, say so on each copy and its snapshots."""

    name = "finish-copies"

    def __init__(self, copies: CopyRegions) -> None:
        self.copies = copies

    def run(self, state: BuildState, ctx: BakeContext) -> None:
        copier = self.copies.copier
        if copier is None:
            return
        started = time.monotonic()
        done = copier.wait()
        # On the run's path only the join waits; it was as late as the copy that ended last (if it waited).
        ids = {c.image_id for c in done.values()}
        last = ctx.waits.log.last_of("copy", ids) if ctx.waits.log is not None else None
        waited = last is not None and time.monotonic() - started > last.last_pause / 2
        record_wait(ctx.waits.log, "copies", ", ".join(sorted(ids)), started, last.checks if last and waited else 1,
                    last.last_pause if last and waited else 0.0)
        if tags_dict(state.image.get("Tags")).get(VALIDATION_TAG) == "passed":
            for copy in done.values():
                tag_validation(ctx.aws.ec2(copy.region), [copy.image_id, *copy.snapshots.values()], "passed")
        ctx.events.info("copies available: " + ", ".join(f"{c.region}={c.image_id}" for c in done.values()))

    def cleanup(self, state: BuildState, ctx: BakeContext) -> None:
        return None  # copy-regions' cleanup removes the copies (all or nothing)
