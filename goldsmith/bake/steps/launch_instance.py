"""Launch one role's instance: IMDSv2 required, tagged at creation, SSH only through its own group.

The build instance gets the recipe's root and data volumes (plus the source image's other EBS volumes,
encrypted with the region's key when the recipe encrypts); an instance launched to validate an image
gets that image's own volumes. Every volume is deleted with the instance: the snapshots are what we keep.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, cast

from goldsmith.aws import ec2 as ec2ops
from goldsmith.aws.tags import client_token as make_token
from goldsmith.aws.tags import tag_specs
from goldsmith.bake.machines import InstanceSpec, keep_message, kept_on_error, remove_instance
from goldsmith.bake.mappings import ebs_of, inherited
from goldsmith.bake.state import VALIDATION
from goldsmith.engine.signals import create_then_record
from goldsmith.validate import forkserver

if TYPE_CHECKING:
    from mypy_boto3_ec2.literals import InstanceTypeType
    from mypy_boto3_ec2.type_defs import (
        BlockDeviceMappingTypeDef,
        EbsBlockDeviceTypeDef,
        ImageTypeDef,
        InstanceNetworkInterfaceSpecificationTypeDef,
        RunInstancesRequestTypeDef,
    )

    from goldsmith.bake.context import MachineContext
    from goldsmith.bake.state import BuildState
    from goldsmith.recipe.model import Build, Volumes


def instance_params(
    build: Build,
    *,
    image_id: str,
    instance_type: str,
    key_name: str,
    group_id: str,
    tags: Mapping[str, str],
    client_token: str,
) -> RunInstancesRequestTypeDef:
    """IMDSv2 required, tags on the instance and its volumes at creation, SSH only through our group."""
    params: RunInstancesRequestTypeDef = {
        "ImageId": image_id,
        "InstanceType": cast("InstanceTypeType", instance_type),  # any name the recipe gives; EC2 judges it
        "MinCount": 1,
        "MaxCount": 1,
        "KeyName": key_name,
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 2},
        "TagSpecifications": tag_specs(["instance", "volume"], tags),
        "ClientToken": make_token(client_token),
    }
    network: InstanceNetworkInterfaceSpecificationTypeDef = {"DeviceIndex": 0, "Groups": [group_id]}
    if build.subnet_id:
        network["SubnetId"] = build.subnet_id
    if build.associate_public_ip is not None:
        network["AssociatePublicIpAddress"] = build.associate_public_ip
        params["NetworkInterfaces"] = [network]
    else:
        params["SecurityGroupIds"] = [group_id]
        if build.subnet_id:
            params["SubnetId"] = build.subnet_id
    if build.iam_instance_profile:
        params["IamInstanceProfile"] = {"Name": build.iam_instance_profile}
    return params


def launch_mappings(volumes: Volumes, root_device: str, *, encrypted: bool = False,
                    kms_key: str | None = None,
                    source_image: ImageTypeDef | None = None) -> list[BlockDeviceMappingTypeDef]:
    """The build instance's volumes; all are deleted with the instance (the snapshots are what we keep)."""
    mappings: list[BlockDeviceMappingTypeDef] = [
        {"DeviceName": root_device, "Ebs": ebs_of(volumes.root, delete_on_termination=True)}
    ]
    for data in volumes.data:
        mappings.append({"DeviceName": data.device, "Ebs": ebs_of(data, delete_on_termination=True)})
    for m in inherited(volumes, root_device, source_image):
        mappings.append({"DeviceName": m["DeviceName"], "Ebs": {"DeleteOnTermination": True}})
    if encrypted:
        for m in mappings:
            m["Ebs"]["Encrypted"] = True
            if kms_key:
                m["Ebs"]["KmsKeyId"] = kms_key
    return mappings


def deletable_mappings(image: ImageTypeDef) -> list[BlockDeviceMappingTypeDef]:
    """The image's EBS mappings with DeleteOnTermination forced on: no volume outlives the test instance."""
    mappings: list[BlockDeviceMappingTypeDef] = []
    for mapping in image.get("BlockDeviceMappings", []):
        ebs = mapping.get("Ebs")
        if not ebs:
            continue
        kept: EbsBlockDeviceTypeDef = {}  # the volume's snapshot, size, type, IOPS and throughput
        if "SnapshotId" in ebs:
            kept["SnapshotId"] = ebs["SnapshotId"]
        if "VolumeSize" in ebs:
            kept["VolumeSize"] = ebs["VolumeSize"]
        if "VolumeType" in ebs:
            kept["VolumeType"] = ebs["VolumeType"]
        if "Iops" in ebs:
            kept["Iops"] = ebs["Iops"]
        if "Throughput" in ebs:
            kept["Throughput"] = ebs["Throughput"]
        mappings.append({"DeviceName": mapping["DeviceName"], "Ebs": {**kept, "DeleteOnTermination": True}})
    return mappings


class LaunchInstance:
    def __init__(self, spec: InstanceSpec) -> None:
        self.spec = spec
        self.name = spec.step_name("launch-instance")

    def _image(self, state: BuildState) -> ImageTypeDef:
        """The build instance starts from the source AMI; any other role from the image being validated."""
        image = state.source_image if self.spec.role == "build" else state.image
        assert image, f"no image to launch the {self.spec.role} instance from"
        return image

    def _mappings(self, state: BuildState, image: ImageTypeDef) -> list[BlockDeviceMappingTypeDef]:
        spec = self.spec
        if spec.volumes is None:
            return deletable_mappings(image)
        encrypt = spec.encrypt
        return launch_mappings(
            spec.volumes, str(image.get("RootDeviceName", "/dev/xvda")), encrypted=encrypt is not None,
            kms_key=(state.kms_keys.get(state.region) or encrypt.kms_key) if encrypt else None,
            source_image=image,
        )

    def run(self, state: BuildState, ctx: MachineContext) -> None:
        spec = self.spec
        machine = state.instances[spec.role]
        if spec.role == VALIDATION:  # the suites' pytest imports, done while the instance boots
            forkserver.warm_up(os.environ)
        image = self._image(state)
        # The key pair and security group steps come first in every instance sequence.
        assert machine.key_name is not None and machine.security_group_id is not None
        params = instance_params(
            spec.build, image_id=image["ImageId"], instance_type=spec.instance_type, key_name=machine.key_name,
            group_id=machine.security_group_id, client_token=spec.client_token(state.build_id),
            tags={**state.tags, "Name": f"goldsmith {spec.label or spec.role} {state.build_id}"},
        )
        params["BlockDeviceMappings"] = self._mappings(state, image)
        ec2 = ctx.aws.ec2(state.region)
        entry = ctx.journal.intent("instance", state.region, params["ClientToken"])

        def launch() -> None:
            with create_then_record():
                instance = ec2ops.run_instance(ec2, params)
                machine.instance_id = instance["InstanceId"]
                ctx.journal.created(entry, machine.instance_id)

        # The group and key pair are seconds old: EC2 may not know them yet. Same params, same ClientToken,
        # so a retry cannot launch twice; Ctrl-C is deferred during each call only, not between them.
        ec2ops.retry_not_found(launch, ec2ops.LAUNCH_NOT_FOUND, ctx.waits)
        assert machine.instance_id is not None
        what = "" if spec.role == "build" else f"{spec.role} instance "
        ctx.events.info(f"launched {what}{machine.instance_id} ({spec.instance_type}) from {params['ImageId']}")
        machine.instance = ec2ops.wait_running(ec2, machine.instance_id, ctx.waits)
        machine.volumes = {
            m["DeviceName"]: m["Ebs"]["VolumeId"] for m in machine.instance.get("BlockDeviceMappings", [])
        }

    def cleanup(self, state: BuildState, ctx: MachineContext) -> None:
        machine = state.instances[self.spec.role]
        if machine.instance_id is not None and kept_on_error(state, ctx):
            ctx.events.warn(keep_message(state, self.spec, ctx))
            return
        remove_instance(state, self.spec, ctx)
