"""RunInstances parameters, one function for the build and the validation instance alike."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from goldsmith.aws.tags import client_token as make_token
from goldsmith.aws.tags import tag_specs

if TYPE_CHECKING:
    from goldsmith.recipe.model import Build


def instance_params(
    build: Build,
    *,
    image_id: str,
    instance_type: str,
    key_name: str | None,
    group_id: str | None,
    tags: Mapping[str, str],
    client_token: str,
) -> dict[str, Any]:
    """IMDSv2 required, tags on the instance and its volumes at creation, SSH only through our group."""
    params: dict[str, Any] = {
        "ImageId": image_id,
        "InstanceType": instance_type,
        "MinCount": 1,
        "MaxCount": 1,
        "KeyName": key_name,
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 2},
        "TagSpecifications": tag_specs(["instance", "volume"], tags),
        "ClientToken": make_token(client_token),
    }
    network: dict[str, Any] = {"DeviceIndex": 0, "Groups": [group_id]}
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
