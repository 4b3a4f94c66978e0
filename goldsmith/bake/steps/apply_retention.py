"""Retire old builds of the recipe after a successful bake (image.retention), as `invoke prune --yes` does.

The last step, after the new image is complete. Retention is housekeeping: a failure here is reported as a
warning and does not fail the bake, whose image would otherwise be removed for it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from goldsmith.errors import GoldsmithError
from goldsmith.images.builds import find_builds
from goldsmith.images.retention import Rules, decide, in_use, plan_lines, retire

if TYPE_CHECKING:
    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.state import BuildState


class ApplyRetention:
    name = "apply-retention"

    def run(self, state: BuildState, ctx: BakeContext) -> None:
        recipe = ctx.loaded.recipe
        retention = recipe.image.retention
        if retention is None:
            return
        rules = Rules(keep=retention.keep, older_than_days=retention.older_than_days)
        regions = list(dict.fromkeys([state.region, *state.artifacts, *recipe.image.regions]))
        try:
            builds = find_builds(ctx.aws, regions, recipe.name)
            decisions = decide(builds, in_use(ctx.aws, regions, builds, ctx.options.channel_prefix, rules), rules,
                               datetime.now(UTC))
            for line in plan_lines(decisions, retention.action):
                ctx.events.info(f"retention: {line}")
            failures = retire(ctx.aws, decisions, retention.action, ctx.events.info)
        except GoldsmithError as exc:
            ctx.events.warn(f"retention not applied: {exc}")
            return
        for failure in failures:
            ctx.events.warn(f"retention: could not retire {failure}")

    def cleanup(self, state: BuildState, ctx: BakeContext) -> None:
        return None
