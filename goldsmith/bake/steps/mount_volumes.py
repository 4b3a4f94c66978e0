"""Format and mount the recipe's data volumes by volume id, with an fstab entry that survives the AMI."""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.provision.volumes import mount_data_volume

if TYPE_CHECKING:
    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.state import BuildState


class MountVolumes:
    name = "mount-volumes"

    def run(self, state: BuildState, ctx: BakeContext) -> None:
        ssh = state.build.ssh
        assert ssh is not None
        for data in ctx.loaded.recipe.volumes.data:
            if not data.mount:
                continue
            volume_id = state.build.volumes.get(data.device, "")
            mount_data_volume(ssh, volume_id=volume_id, device=data.device, mount=data.mount,
                              filesystem=data.filesystem)
            ctx.events.info(f"{data.device} ({volume_id}) mounted at {data.mount}")

    def cleanup(self, state: BuildState, ctx: BakeContext) -> None:
        return None
