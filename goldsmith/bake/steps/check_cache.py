"""The build cache: when an image made from the same inputs exists, reuse it and bake nothing.

Runs right after resolve-source (the fingerprint hashes the source AMI id) and before anything is
created. A hit fills the state as a bake would (the AMI per region, its name, permissions and
deprecation) and ends the run there: no key pair, no security group, no instance. The rules for what
is reusable are goldsmith.images.cache's; this step adds the recipe's own (it shares, it deprecates).
Left out of the sequence with `--force` (or `cache: false`): the bake then bakes, and tags the new image
with the fingerprint all the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.aws.sharing import PUBLIC, launch_permission_entries
from goldsmith.aws.tags import tags_dict
from goldsmith.bake.state import Artifact
from goldsmith.images.cache import CachedImage, incomplete, lookup
from goldsmith.recipe.publishing import target_regions

if TYPE_CHECKING:
    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.state import BuildState


class CheckCache:
    name = "check-cache"

    def run(self, state: BuildState, ctx: BakeContext) -> None:
        image = ctx.loaded.recipe.image
        fp = state.fingerprint
        assert fp, "resolve-source computes the fingerprint"
        copies = target_regions(image, state.region)[1:]
        found = lookup(ctx.aws, state.region, [fp], copies)
        hit = found.hits.get(fp)
        short = fp[:12]
        if hit is None:
            ctx.events.info(f"build cache: no reusable image with fingerprint {short}: {found.why_not(fp)}; baking")
            return
        deprecates = image.deprecate_at is not None or image.deprecate_after is not None
        missing = incomplete(ctx.aws, hit, image.share, deprecates=deprecates)
        if missing:
            ctx.events.info(f"build cache: not reusing {hit.image_id} (fingerprint {short}): {missing}; baking")
            return
        self._reuse(state, ctx, hit)
        where = ", ".join(f"{a.region}:{a.image_id}" for a in hit.artifacts.values())
        validated = "validation passed" if hit.validation == "passed" else "the recipe has no suites"
        ctx.events.info(f"build cache: reusing {where} '{hit.name}' made by build {hit.build_id}: same input "
                        f"fingerprint {short} (recipe, variables, files, source {state.facts['source_ami']}), "
                        f"{validated}; nothing baked (--force bakes anyway)")
        state.done = True

    @staticmethod
    def _reuse(state: BuildState, ctx: BakeContext, hit: CachedImage) -> None:
        """The state a bake of this image would have left: what the manifest and the caller read."""
        share = ctx.loaded.recipe.image.share
        first = next(iter(hit.artifacts.values()))
        state.reused_from = hit.build_id
        state.image_id = first.image_id
        state.image_name = hit.name
        state.image = first.image
        state.snapshots = dict(first.snapshots)
        state.artifacts = {r: Artifact(r, a.image_id, dict(a.snapshots)) for r, a in hit.artifacts.items()}
        state.tags = {k: v for k, v in tags_dict(first.image.get("Tags")).items() if not k.startswith("aws:")}
        state.deprecation_time = hit.deprecation_time
        entries = launch_permission_entries(share.accounts, share.organizations, share.ous)
        state.launch_permissions = [*entries, PUBLIC] if share.public else entries
        state.snapshot_permissions = list(share.accounts) if share.snapshots else []
        state.validation = {"reused": hit.validation, "build_id": hit.build_id}

    def cleanup(self, state: BuildState, ctx: BakeContext) -> None:
        return None  # creates nothing
