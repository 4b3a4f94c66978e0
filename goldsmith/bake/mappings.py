"""EBS mapping pieces shared by the launch step (the build instance's volumes) and the register step
(the AMI's mapping from the snapshots).

The AMI is registered from explicit snapshots, so its mapping is exactly the recipe's volumes (the
root at the source image's root device name, each data volume at its device, with sizes and types)
plus the source AMI's other EBS volumes, which the new image inherits as they are: a recipe built on
`base` keeps base's /data volume even if it doesn't list it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import BlockDeviceMappingTypeDef, EbsBlockDeviceTypeDef, ImageTypeDef

    from goldsmith.recipe.model import DataVolume, RootVolume, Volumes


def ebs_of(volume: RootVolume | DataVolume, *, delete_on_termination: bool) -> EbsBlockDeviceTypeDef:
    ebs: EbsBlockDeviceTypeDef = {
        "VolumeSize": volume.size,
        "VolumeType": volume.type,
        "DeleteOnTermination": delete_on_termination,
    }
    if volume.iops:
        ebs["Iops"] = volume.iops
    if volume.throughput:
        ebs["Throughput"] = volume.throughput
    return ebs


def inherited(volumes: Volumes, root_device: str,
              source_image: ImageTypeDef | None) -> list[BlockDeviceMappingTypeDef]:
    """The source AMI's EBS mappings the recipe does not mention (ephemeral and NoDevice entries aside)."""
    named = {root_device, *(d.device for d in volumes.data)}
    return [
        m for m in (source_image or {}).get("BlockDeviceMappings", [])
        if "Ebs" in m and m.get("DeviceName") not in named
    ]


def image_mappings(volumes: Volumes, root_device: str, snapshots: dict[str, str],
                   source_image: ImageTypeDef | None = None) -> list[BlockDeviceMappingTypeDef]:
    """The AMI's mapping from the snapshots taken of the build instance (device -> snapshot id)."""
    root = ebs_of(volumes.root, delete_on_termination=True)
    root["SnapshotId"] = snapshots[root_device]
    mappings: list[BlockDeviceMappingTypeDef] = [{"DeviceName": root_device, "Ebs": root}]
    for data in volumes.data:
        ebs = ebs_of(data, delete_on_termination=data.delete_on_termination)
        ebs["SnapshotId"] = snapshots[data.device]
        mappings.append({"DeviceName": data.device, "Ebs": ebs})
    for m in inherited(volumes, root_device, source_image):
        source = m["Ebs"]
        kept: EbsBlockDeviceTypeDef = {}  # the source's size, type, IOPS and throughput, where it gives them
        if source.get("VolumeSize"):
            kept["VolumeSize"] = source["VolumeSize"]
        if source.get("VolumeType"):
            kept["VolumeType"] = source["VolumeType"]
        if source.get("Iops"):
            kept["Iops"] = source["Iops"]
        if source.get("Throughput"):
            kept["Throughput"] = source["Throughput"]
        kept["DeleteOnTermination"] = source.get("DeleteOnTermination", True)
        kept["SnapshotId"] = snapshots[m["DeviceName"]]
        mappings.append({"DeviceName": m["DeviceName"], "Ebs": kept})
    return mappings
