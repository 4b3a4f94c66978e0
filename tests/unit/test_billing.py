"""Billing codes: the preflight refuses a billed source, RegisterImage checks the new AMI and carries TpmSupport
and the build instance's UEFI data over (pure checks, and the register-image step against the sandbox's moto)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.stub import Stubber

from goldsmith.aws import ec2 as ec2ops
from goldsmith.aws.session import Aws
from goldsmith.bake.billing import check_image_billing, check_source_billing
from goldsmith.bake.state import BuildState
from goldsmith.bake.steps.register_image import RegisterImage
from goldsmith.engine.cancel import CancelToken
from goldsmith.engine.journal import Journal
from goldsmith.engine.runner import run_steps
from goldsmith.errors import AwsError, BakeError, PreflightError
from goldsmith.recipe.loader import load_recipe
from goldsmith.sandbox.moto_fixes import BASE_IMAGE_OWNER

LINUX = {"ImageId": "ami-1", "Name": "debian", "PlatformDetails": "Linux/UNIX", "UsageOperation": "RunInstances"}
RHEL = {"ImageId": "ami-2", "Name": "rhel-9", "PlatformDetails": "Red Hat Enterprise Linux",
        "UsageOperation": "RunInstances:0010"}


def test_a_source_without_a_billing_code_passes_the_preflight() -> None:
    check_source_billing(LINUX)  # type: ignore[arg-type]
    check_source_billing({"ImageId": "ami-3", "Name": "no billing fields"})


@pytest.mark.parametrize("image", [
    RHEL,
    {"ImageId": "ami-4", "PlatformDetails": "SUSE Linux", "UsageOperation": "RunInstances:000g"},
    {"ImageId": "ami-5", "PlatformDetails": "Windows", "UsageOperation": "RunInstances:0002", "Platform": "windows"},
    {"ImageId": "ami-6", "Platform": "windows"},
    {"ImageId": "ami-7", "PlatformDetails": "Ubuntu Pro", "UsageOperation": "RunInstances:0g00"},
    {"ImageId": "ami-8", "UsageOperation": "RunInstances:0010"},
])
def test_a_source_with_a_billing_code_is_refused_with_the_reason_and_what_to_do(image: dict[str, Any]) -> None:
    with pytest.raises(PreflightError) as info:
        check_source_billing(image)  # type: ignore[arg-type]
    message = str(info.value)
    assert image["ImageId"] in message and "carries a billing code" in message
    assert "drops the billing code" in message and "fail to launch or be billed wrongly" in message
    assert "Bake from a source without a billing code" in message
    assert "CreateImage" in message and "Goldsmith does not support that yet" in message


def test_the_new_ami_must_bill_like_its_source() -> None:
    assert check_image_billing(LINUX, {**LINUX, "ImageId": "ami-9"}) == ""  # type: ignore[arg-type]
    assert check_image_billing(RHEL, {**RHEL, "ImageId": "ami-9"}) == ""  # type: ignore[arg-type]
    with pytest.raises(BakeError, match=r"PlatformDetails 'Linux/UNIX' instead of the source's 'Red Hat "
                                        r"Enterprise Linux'; UsageOperation 'RunInstances' instead of"):
        check_image_billing(RHEL, {**LINUX, "ImageId": "ami-9"})  # type: ignore[arg-type]
    with pytest.raises(BakeError, match=r"PlatformDetails '\(none\)'"):
        check_image_billing(LINUX, {"ImageId": "ami-9"})  # type: ignore[arg-type]
    market = {**LINUX, "ProductCodes": [{"ProductCodeId": "abc123", "ProductCodeType": "marketplace"}]}
    with pytest.raises(BakeError, match="no Marketplace product code abc123"):
        check_image_billing(market, {**LINUX, "ImageId": "ami-9"})  # type: ignore[arg-type]
    note = check_image_billing({"ImageId": "ami-3"}, {**LINUX, "ImageId": "ami-9"})  # type: ignore[arg-type]
    assert "shows no billing fields" in note and "Linux/UNIX / RunInstances" in note


def test_uefi_data_of_an_endpoint_without_the_api_is_none_and_other_errors_raise(aws: Aws) -> None:
    ec2 = aws.ec2()
    with Stubber(ec2) as stub:
        stub.add_client_error("get_instance_uefi_data", "InvalidAction", "The action is not valid")
        stub.add_client_error("get_instance_uefi_data", "UnauthorizedOperation", "not authorized")
        stub.add_client_error("get_instance_uefi_data", "InvalidInstanceID.NotFound", "no such instance")
        assert ec2ops.instance_uefi_data(ec2, "i-1") is None
        assert ec2ops.instance_uefi_data(ec2, "i-1") is None
        with pytest.raises(AwsError, match=r"GetInstanceUefiData i-1 failed: InvalidInstanceID\.NotFound"):
            ec2ops.instance_uefi_data(ec2, "i-1")


# The register-image step against moto ----------------------------------------------------------------------
RECIPE = """\
name: billing
version: "1.0.0"
source: {filter: {name: "debian-12-sandbox-amd64-*", owners: ["136693071363"]}}
build: {ssh_username: admin}
image: {name: "billing-{{ build_id }}"}
"""


def public_image(aws: Aws, pattern: str) -> Any:
    wanted = [{"Name": "name", "Values": [pattern]}]
    return aws.ec2().describe_images(Owners=[BASE_IMAGE_OWNER], Filters=wanted)["Images"][0]


def built(aws: Aws, tmp_path: Path, source: Any, build_id: str) -> tuple[BuildState, Any, list[str]]:
    """A stopped build instance launched from `source` and its root snapshot, as the bake has them."""
    ec2 = aws.ec2()
    instance = ec2.run_instances(ImageId=source["ImageId"], MinCount=1, MaxCount=1)["Instances"][0]
    ec2.stop_instances(InstanceIds=[instance["InstanceId"]])
    volume = instance["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    (tmp_path / "billing.yaml").write_text(RECIPE)
    lines: list[str] = []
    events = SimpleNamespace(info=lambda text, **_: lines.append(text), warn=lines.append,
                             step_started=lambda name: None, step_finished=lambda *a, **k: None)
    ctx = SimpleNamespace(aws=aws, events=events, cancel=CancelToken(), loaded=load_recipe(tmp_path / "billing.yaml"),
                          journal=Journal(path=tmp_path / f"{build_id}.json", build_id=build_id),
                          waits=ec2ops.Waits(delay=0.05, image=10))
    state = BuildState(build_id=build_id, region="us-east-1", facts={"build_id": build_id},
                       tags={"goldsmith:build-id": build_id})
    state.source_image = source
    state.image_name = f"billing-{build_id}"
    state.build.instance_id, state.build.instance = instance["InstanceId"], instance
    state.snapshots = {"/dev/xvda": snapshot}
    return state, ctx, lines


def test_register_image_carries_tpm_support_and_the_build_instance_uefi_data(aws: Aws, tmp_path: Path) -> None:
    base = public_image(aws, "debian-12-sandbox-amd64-*")
    ec2 = aws.ec2()
    tpm_id = ec2.register_image(Name="tpm-source", RootDeviceName="/dev/xvda", BootMode="uefi", TpmSupport="v2.0",
                                BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {
                                    "SnapshotId": base["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]}}])["ImageId"]
    state, ctx, _ = built(aws, tmp_path, ec2.describe_images(ImageIds=[tpm_id])["Images"][0], "b-tpm")
    store = ec2.get_instance_uefi_data(InstanceId=state.build.instance_id)["UefiData"]
    run_steps([RegisterImage()], state, ctx)
    assert state.image["TpmSupport"] == "v2.0" and state.image["BootMode"] == "uefi"
    assert state.image["PlatformDetails"] == "Linux/UNIX" and state.image["UsageOperation"] == "RunInstances"
    answer = ec2.describe_image_attribute(ImageId=state.image_id, Attribute="uefiData")
    assert store and answer["UefiData"]["Value"] == store


def test_an_ami_that_lost_its_source_billing_code_fails_the_step_and_is_removed(aws: Aws, tmp_path: Path) -> None:
    # As if the preflight had not seen the billing code: the step alone must catch it.
    rhel = public_image(aws, "rhel-9-sandbox-amd64-*")
    state, ctx, _ = built(aws, tmp_path, rhel, "b-rhel")
    with pytest.raises(BakeError, match="does not bill like its source") as info:
        run_steps([RegisterImage()], state, ctx)
    assert "'Red Hat Enterprise Linux'" in str(info.value) and "it is removed" in str(info.value)
    assert state.image_id is None
    assert aws.ec2().describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": ["billing-b-rhel"]}])[
        "Images"] == []
