"""Grant launch permissions (accounts, organizations, OUs) and snapshot permissions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.aws import sharing

if TYPE_CHECKING:
    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.state import BuildState


class ShareImage:
    name = "share-image"

    def run(self, state: BuildState, ctx: BakeContext) -> None:
        share = ctx.loaded.recipe.image.share
        named = sharing.launch_permission_entries(share.accounts, share.organizations, share.ous)
        for artifact in state.artifacts.values():
            ec2 = ctx.aws.ec2(artifact.region)
            sharing.add_launch_permissions(ec2, artifact.image_id, named, public=share.public)
            if share.snapshots:
                for snapshot_id in artifact.snapshots.values():
                    sharing.change_snapshot_permissions(ec2, snapshot_id, share.accounts)
        entries = [*named, sharing.PUBLIC] if share.public else named
        state.launch_permissions = entries
        state.snapshot_permissions = list(share.accounts) if share.snapshots else []
        ctx.events.info(f"shared with {', '.join(sharing.grantee(e) for e in entries)}")

    def cleanup(self, state: BuildState, ctx: BakeContext) -> None:
        # On failure the images are deregistered by their own steps' cleanups anyway; taking the
        # permissions away first means nothing stays shared even if a deregistration fails.
        if state.outcome == "succeeded":
            return
        share = ctx.loaded.recipe.image.share
        entries = sharing.launch_permission_entries(share.accounts, share.organizations, share.ous, share.public)
        for artifact in state.artifacts.values():
            ec2 = ctx.aws.ec2(artifact.region)
            sharing.remove_launch_permissions(ec2, artifact.image_id, entries)
            if share.snapshots:
                for snapshot_id in artifact.snapshots.values():
                    sharing.change_snapshot_permissions(ec2, snapshot_id, share.accounts, remove=True)
        state.launch_permissions = []
        state.snapshot_permissions = []
