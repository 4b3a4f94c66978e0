"""Mark the AMI deprecated at deprecate_at (or deprecate_after days from its creation) in every region.

deprecate_after counts from the AMI's CreationDate, as AWS counts a public image's limit (2 years from
its creation), so a public image with deprecate_after: 730 is not refused because the bake took hours."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from goldsmith.aws import images
from goldsmith.bake.preflight_share import deprecation_time

if TYPE_CHECKING:
    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.state import BuildState


def created_at(state: BuildState) -> datetime | None:
    """When AWS says the AMI was created (DescribeImages CreationDate), if known."""
    created = state.image.get("CreationDate")
    if not created:
        return None
    try:
        when = datetime.fromisoformat(str(created).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class DeprecateImage:
    name = "deprecate-image"

    def run(self, state: BuildState, ctx: BakeContext) -> None:
        when = deprecation_time(ctx.loaded.recipe.image, created_at(state) or datetime.now(UTC))
        if when is None:
            return
        for artifact in state.artifacts.values():
            images.enable_deprecation(ctx.aws.ec2(artifact.region), artifact.image_id, when)
        state.deprecation_time = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        ctx.events.info(f"deprecated from {state.deprecation_time} in {', '.join(state.artifacts)}")

    def cleanup(self, state: BuildState, ctx: BakeContext) -> None:
        # A failed bake deregisters every artifact (their own steps' cleanups); nothing to undo here.
        return None
