"""Launch the build instance: root + data volumes, IMDSv2 required, tagged at creation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.aws import ec2 as ec2ops
from goldsmith.bake.launching import instance_params
from goldsmith.bake.mappings import launch_mappings
from goldsmith.bake.signals import create_then_record

if TYPE_CHECKING:
    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.state import BuildState


class LaunchInstance:
    name = "launch-instance"

    def run(self, state: BuildState, ctx: BakeContext) -> None:
        recipe = ctx.loaded.recipe
        assert state.source_image is not None
        root_device = state.source_image.get("RootDeviceName", "/dev/xvda")
        encrypt = recipe.image.encrypt
        params = instance_params(
            recipe.build, image_id=state.source_image["ImageId"], instance_type=recipe.build.instance_type,
            key_name=state.key_name, group_id=state.security_group_id, client_token=f"{state.build_id}-build",
            tags={**state.tags, "Name": f"goldsmith build {recipe.name} {state.build_id}"},
        )
        params["BlockDeviceMappings"] = launch_mappings(
            recipe.volumes, root_device, encrypted=encrypt is not None,
            kms_key=(state.kms_keys.get(state.region) or encrypt.kms_key) if encrypt else None,
            source_image=state.source_image,
        )
        ec2 = ctx.aws.ec2(state.region)
        entry = ctx.journal.intent("instance", state.region, params["ClientToken"])
        with create_then_record():
            instance = ec2ops.run_instance(ec2, params)
            state.instance_id = instance["InstanceId"]
            ctx.journal.created(entry, state.instance_id)
        ctx.events.info(f"launched {state.instance_id} ({recipe.build.instance_type}) from {params['ImageId']}")
        state.instance = ec2ops.wait_running(ec2, state.instance_id, ctx.waits)
        state.volumes = {
            m["DeviceName"]: m["Ebs"]["VolumeId"] for m in state.instance.get("BlockDeviceMappings", [])
        }

    def cleanup(self, state: BuildState, ctx: BakeContext) -> None:
        if state.instance_id is None:
            return
        if ctx.options.keep_on_error and state.outcome == "failed":
            host, port = state.endpoint or ("?", 22)
            ctx.events.warn(
                f"--keep-on-error: instance {state.instance_id} is still running; reach it with "
                f"ssh -i {ctx.options.work_dir}/keys/{state.build_id}.pem -p {port} "
                f"{ctx.loaded.recipe.build.ssh_username}@{host}; remove it all with "
                f"`invoke clean --build-id {state.build_id}`"
            )
            if state.private_key is not None:
                state.private_key.write_private_file(ctx.options.work_dir / "keys", name=f"{state.build_id}.pem")
            return
        ec2ops.terminate_instance(ctx.aws.ec2(state.region), state.instance_id, ctx.waits)
        ctx.journal.deleted("instance", state.instance_id)
        state.instance_id = None
