"""Block device mappings: for launching the build instance and for registering the AMI.

The AMI is registered from explicit snapshots, so its mapping is exactly the recipe's volumes (the
root at the source image's root device name, each data volume at its device, with sizes and types)
plus the source AMI's other EBS volumes, which the new image inherits as they are: a recipe built on
`base` keeps base's /data volume even if it doesn't list it. The build instance deletes every volume
on termination (the snapshots are what we keep).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from goldsmith.recipe.model import DataVolume, RootVolume, Volumes


def _ebs(volume: RootVolume | DataVolume, *, delete_on_termination: bool) -> dict[str, Any]:
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


def launch_mappings(volumes: Volumes, root_device: str, *, encrypted: bool = False,
                    kms_key: str | None = None, source_image: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The build instance's volumes; all are deleted with the instance (the snapshots are what we keep)."""
    mappings: list[dict[str, Any]] = [
        {"DeviceName": root_device, "Ebs": _ebs(volumes.root, delete_on_termination=True)}
    ]
    for data in volumes.data:
        mappings.append({"DeviceName": data.device, "Ebs": _ebs(data, delete_on_termination=True)})
    for m in inherited(volumes, root_device, source_image):
        mappings.append({"DeviceName": m["DeviceName"], "Ebs": {"DeleteOnTermination": True}})
    if encrypted:
        for m in mappings:
            m["Ebs"]["Encrypted"] = True
            if kms_key:
                m["Ebs"]["KmsKeyId"] = kms_key
    return mappings


def image_mappings(volumes: Volumes, root_device: str, snapshots: dict[str, str],
                   source_image: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The AMI's mapping from the snapshots taken of the build instance (device -> snapshot id)."""
    root = _ebs(volumes.root, delete_on_termination=True)
    root["SnapshotId"] = snapshots[root_device]
    mappings = [{"DeviceName": root_device, "Ebs": root}]
    for data in volumes.data:
        ebs = _ebs(data, delete_on_termination=data.delete_on_termination)
        ebs["SnapshotId"] = snapshots[data.device]
        mappings.append({"DeviceName": data.device, "Ebs": ebs})
    for m in inherited(volumes, root_device, source_image):
        source = m["Ebs"]
        ebs = {k: source[k] for k in ("VolumeSize", "VolumeType", "Iops", "Throughput") if source.get(k)}
        ebs["DeleteOnTermination"] = source.get("DeleteOnTermination", True)
        ebs["SnapshotId"] = snapshots[m["DeviceName"]]
        mappings.append({"DeviceName": m["DeviceName"], "Ebs": ebs})
    return mappings
