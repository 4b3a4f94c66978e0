"""Snapshot the root and every data volume of the stopped build instance, then let the instance go.

A snapshot is point in time: once CreateSnapshots answered, the volumes are no longer needed. The build
instance is terminated right then (its UEFI variable store read first), without waiting: it shuts down
while the snapshots complete and the image is registered, validated and copied, and the cleanups at the
end wait for it only where its security group must go. With --keep-on-error it stays until the end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.aws import creates
from goldsmith.aws import ec2 as ec2ops
from goldsmith.aws.images import delete_snapshot_retrying
from goldsmith.bake.machines import build_uefi_data, start_removing_instance
from goldsmith.bake.state import BUILD
from goldsmith.engine.signals import create_then_record
from goldsmith.errors import AwsError, BakeError

if TYPE_CHECKING:
    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.state import BuildState


class SnapshotVolumes:
    name = "snapshot-volumes"

    def run(self, state: BuildState, ctx: BakeContext) -> None:
        instance_id, volumes = state.build.instance_id, state.build.volumes
        assert instance_id is not None
        ec2 = ctx.aws.ec2(state.region)
        entry = ctx.journal.intent("snapshot", state.region, f"snapshots of {instance_id}")
        device_of = {vol: dev for dev, vol in volumes.items()}
        with create_then_record():
            by_volume = creates.create_snapshots(
                ec2, instance_id, f"goldsmith {ctx.loaded.recipe.name} {state.build_id}", state.tags, waits=ctx.waits
            )
            ctx.journal.created_many(entry, {f"{instance_id}:{v}": snap for v, snap in by_volume.items()})
            for volume_id, snapshot_id in by_volume.items():
                # Recorded before any check, so the cleanup deletes every snapshot the call made.
                state.snapshots[device_of.get(volume_id, volume_id)] = snapshot_id
        strangers = [f"{snap} of {vol}" for vol, snap in by_volume.items() if vol not in device_of]
        if strangers:
            raise BakeError(f"snapshots of volumes that are not the build's: {', '.join(strangers)}")
        missing = sorted(set(volumes) - set(state.snapshots))
        if missing:
            raise BakeError(f"no snapshot was made of {', '.join(missing)}")
        if not ctx.options.keep_on_error:
            build_uefi_data(state, ctx)  # register-image needs it, and the instance is about to go
            start_removing_instance(state, BUILD, ctx)
            ctx.events.info(f"terminating {instance_id} while its snapshots complete")
        ec2ops.wait_snapshots(ec2, list(state.snapshots.values()), ctx.waits)
        ctx.events.info("snapshots: " + ", ".join(f"{d}={s}" for d, s in sorted(state.snapshots.items())))

    def cleanup(self, state: BuildState, ctx: BakeContext) -> None:
        if state.outcome == "succeeded" or not state.snapshots or state.keep_image:
            return
        ec2 = ctx.aws.ec2(state.region)
        failed: list[str] = []
        for device, snapshot_id in list(state.snapshots.items()):
            try:
                # Just after DeregisterImage, AWS may call the snapshot in use for a few seconds.
                delete_snapshot_retrying(ec2, snapshot_id)
            except AwsError as exc:
                failed.append(f"{snapshot_id} ({exc})")
                continue
            ctx.journal.deleted("snapshot", snapshot_id)
            del state.snapshots[device]
        if failed:
            raise AwsError(f"could not delete snapshots: {', '.join(failed)}", operation="DeleteSnapshot")
