"""Our instance_gone waiter rides through the states botocore's instance_terminated gives up on."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from goldsmith.aws.calls import wait
from goldsmith.errors import AwsError, WaitTimeout


def _described(state: str) -> dict[str, object]:
    return {"Reservations": [{"Instances": [{"InstanceId": "i-0123456789abcdef0", "State": {"Name": state}}]}]}


@pytest.fixture
def ec2() -> object:
    return boto3.client("ec2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_pending_and_stopping_then_terminated_succeeds(ec2: object) -> None:
    stub = Stubber(ec2)  # type: ignore[arg-type]
    for state in ("pending", "stopping", "shutting-down", "terminated"):
        stub.add_response("describe_instances", _described(state))
    with stub:
        last = wait(ec2, "instance_gone", resource="i-0123456789abcdef0", wanted="terminated", timeout=5,
                    delay=0.01, InstanceIds=["i-0123456789abcdef0"])
    assert last["Reservations"][0]["Instances"][0]["State"]["Name"] == "terminated"
    stub.assert_no_pending_responses()


def test_not_found_right_after_launch_is_retried(ec2: object) -> None:
    stub = Stubber(ec2)  # type: ignore[arg-type]
    stub.add_client_error("describe_instances", service_error_code="InvalidInstanceID.NotFound")
    stub.add_response("describe_instances", _described("terminated"))
    with stub:
        wait(ec2, "instance_gone", resource="i-0123456789abcdef0", wanted="terminated", timeout=5, delay=0.01,
             InstanceIds=["i-0123456789abcdef0"])
    stub.assert_no_pending_responses()


def test_stuck_instance_times_out_naming_its_state(ec2: object) -> None:
    stub = Stubber(ec2)  # type: ignore[arg-type]
    for _ in range(3):
        stub.add_response("describe_instances", _described("stopping"))
    expected = r"i-0123456789abcdef0 did not become terminated .*last state: stopping"
    with stub, pytest.raises(WaitTimeout, match=expected):
        wait(ec2, "instance_gone", resource="i-0123456789abcdef0", wanted="terminated", timeout=0.02, delay=0.01,
             InstanceIds=["i-0123456789abcdef0"])


def _image(state: str) -> dict[str, object]:
    return {"Images": [{"ImageId": "ami-0123456789abcdef0", "State": state}]}


def test_an_image_not_yet_known_right_after_registering_is_retried(ec2: object) -> None:
    stub = Stubber(ec2)  # type: ignore[arg-type]
    stub.add_client_error("describe_images", service_error_code="InvalidAMIID.NotFound")
    stub.add_response("describe_images", _image("pending"))
    stub.add_response("describe_images", _image("available"))
    with stub:
        last = wait(ec2, "image_available", resource="ami-0123456789abcdef0", wanted="available", timeout=5,
                    delay=0.01, ImageIds=["ami-0123456789abcdef0"])
    assert last["Images"][0]["State"] == "available"
    stub.assert_no_pending_responses()


def test_a_failed_image_stops_the_wait_at_once(ec2: object) -> None:
    stub = Stubber(ec2)  # type: ignore[arg-type]
    stub.add_response("describe_images", _image("failed"))
    with stub, pytest.raises(AwsError, match=r"ami-0123456789abcdef0 can no longer become available \(state: failed\)"):
        wait(ec2, "image_available", resource="ami-0123456789abcdef0", wanted="available", timeout=5,
             delay=0.01, ImageIds=["ami-0123456789abcdef0"])
    stub.assert_no_pending_responses()
