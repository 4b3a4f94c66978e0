"""Block device mappings: the recipe's volumes, plus the source AMI's other EBS volumes, inherited."""

from __future__ import annotations

from goldsmith.bake.mappings import image_mappings
from goldsmith.bake.steps.launch_instance import launch_mappings
from goldsmith.recipe.model import DataVolume, RootVolume, Volumes

SOURCE = {
    "RootDeviceName": "/dev/xvda",
    "BlockDeviceMappings": [
        {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-1", "VolumeSize": 8, "VolumeType": "gp3"}},
        {"DeviceName": "/dev/sdf", "Ebs": {"SnapshotId": "snap-2", "VolumeSize": 10, "VolumeType": "gp3",
                                           "DeleteOnTermination": False}},
        {"DeviceName": "/dev/sdb", "VirtualName": "ephemeral0"},
    ],
}


def test_a_source_volume_the_recipe_omits_is_deleted_with_the_build_instance() -> None:
    mappings = launch_mappings(Volumes(root=RootVolume(size=12)), "/dev/xvda", source_image=SOURCE)
    assert mappings == [
        {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 12, "VolumeType": "gp3", "DeleteOnTermination": True}},
        {"DeviceName": "/dev/sdf", "Ebs": {"DeleteOnTermination": True}},
    ]


def test_the_image_inherits_it_from_its_new_snapshot_with_the_source_settings() -> None:
    snapshots = {"/dev/xvda": "snap-a", "/dev/sdf": "snap-b"}
    mappings = image_mappings(Volumes(), "/dev/xvda", snapshots, SOURCE)
    assert mappings[1] == {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 10, "VolumeType": "gp3",
                                                             "DeleteOnTermination": False, "SnapshotId": "snap-b"}}
    assert len(mappings) == 2  # the ephemeral entry is not an EBS volume


def test_a_volume_the_recipe_names_uses_the_recipe_settings() -> None:
    volumes = Volumes(data=[DataVolume(device="/dev/sdf", size=20, type="gp2")])
    launch = launch_mappings(volumes, "/dev/xvda", source_image=SOURCE)
    assert [m["DeviceName"] for m in launch] == ["/dev/xvda", "/dev/sdf"]
    assert launch[1]["Ebs"]["VolumeSize"] == 20
