"""EBS mapping pieces shared by the launch step (the build instance's volumes) and the register step
(the AMI's mapping from the snapshots).

The AMI is registered from explicit snapshots, so its mapping is exactly the recipe's volumes (the
root at the source image's root device name, each data volume at its device, with sizes and types)
plus the source AMI's other EBS volumes, which the new image inherits as they are: a recipe built on
`base` keeps base's /data volume even if it doesn't list it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from goldsmith.recipe.model import DataVolume, RootVolume, Volumes


def ebs_of(volume: RootVolume | DataVolume, *, delete_on_termination: bool) -> dict[str, Any]:
    ebs: dict[str, Any] = {
        "VolumeSize": volume.size,
        "VolumeType": volume.type,
        "DeleteOnTermination": delete_on_termination,
    }
    if volume.iops:
        ebs["Iops"] = volume.iops
    if volume.throughput:
        ebs["Throughput"] = volume.throughput
    return ebs


def inherited(volumes: Volumes, root_device: str, source_image: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The source AMI's EBS mappings the recipe does not mention (ephemeral and NoDevice entries aside)."""
    named = {root_device, *(d.device for d in volumes.data)}
    return [
        m for m in (source_image or {}).get("BlockDeviceMappings", [])
        if "Ebs" in m and m.get("DeviceName") not in named
    ]


def image_mappings(volumes: Volumes, root_device: str, snapshots: dict[str, str],
                   source_image: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The AMI's mapping from the snapshots taken of the build instance (device -> snapshot id)."""
    root = ebs_of(volumes.root, delete_on_termination=True)
    root["SnapshotId"] = snapshots[root_device]
    mappings = [{"DeviceName": root_device, "Ebs": root}]
    for data in volumes.data:
        ebs = ebs_of(data, delete_on_termination=data.delete_on_termination)
        ebs["SnapshotId"] = snapshots[data.device]
        mappings.append({"DeviceName": data.device, "Ebs": ebs})
    for m in inherited(volumes, root_device, source_image):
        source = m["Ebs"]
        ebs = {k: source[k] for k in ("VolumeSize", "VolumeType", "Iops", "Throughput") if source.get(k)}
        ebs["DeleteOnTermination"] = source.get("DeleteOnTermination", True)
        ebs["SnapshotId"] = snapshots[m["DeviceName"]]
        mappings.append({"DeviceName": m["DeviceName"], "Ebs": ebs})
    return mappings
