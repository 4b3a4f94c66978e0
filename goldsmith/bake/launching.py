"""Instance launch parameters shared by the build and the validation instance."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from goldsmith.aws.tags import tag_specs

if TYPE_CHECKING:
    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.state import BuildState


def launch_params(state: BuildState, ctx: BakeContext, *, role: str, image: dict[str, Any],
                  instance_type: str) -> dict[str, Any]:
    """RunInstances parameters shared by the build and the validation instance."""
    recipe = ctx.loaded.recipe
    build = recipe.build
    tags = {**state.tags, "Name": f"goldsmith {role} {recipe.name} {state.build_id}"}
    params: dict[str, Any] = {
        "ImageId": image["ImageId"],
        "InstanceType": instance_type,
        "MinCount": 1,
        "MaxCount": 1,
        "KeyName": state.key_name,
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 2},
        "TagSpecifications": tag_specs(["instance", "volume"], tags),
        "ClientToken": f"{state.build_id}-{role}"[:64],
    }
    network: dict[str, Any] = {"DeviceIndex": 0, "Groups": [state.security_group_id]}
    if build.subnet_id:
        network["SubnetId"] = build.subnet_id
    if build.associate_public_ip is not None:
        network["AssociatePublicIpAddress"] = build.associate_public_ip
        params["NetworkInterfaces"] = [network]
    else:
        params["SecurityGroupIds"] = [state.security_group_id]
        if build.subnet_id:
            params["SubnetId"] = build.subnet_id
    if build.iam_instance_profile:
        params["IamInstanceProfile"] = {"Name": build.iam_instance_profile}
    return params
