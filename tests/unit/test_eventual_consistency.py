"""The product against EC2's eventual consistency, played by the gateway (a real moto server behind it and
the in-memory fake runtime): NotFound for what was just created is retried within bounds, cancellably,
and an instance is not taken for terminated while it may still run."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from goldsmith.aws import creates
from goldsmith.aws import ec2 as ec2ops
from goldsmith.aws.session import Aws, AwsSettings
from goldsmith.engine.cancel import Cancelled, CancelToken
from goldsmith.errors import AwsError
from goldsmith.sandbox.client import SandboxClient
from goldsmith.sandbox.credentials import UNCHECKED
from goldsmith.sandbox.gateway import Gateway
from goldsmith.targets.aws import AwsTarget
from tests.unit.test_gateway import FakeRuntime, base_ami, gateway_on_own_moto

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


@pytest.fixture(scope="module")
def runtime() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture(scope="module")
def gateway(runtime: FakeRuntime) -> Iterator[Gateway]:
    with gateway_on_own_moto(runtime) as gw:
        yield gw


@pytest.fixture
def control(gateway: Gateway) -> Iterator[SandboxClient]:
    client = SandboxClient(gateway.url, UNCHECKED)
    yield client
    client.clear_faults()


@pytest.fixture
def ec2(gateway: Gateway) -> EC2Client:
    """The product's own client (no botocore retries, so every NotFound reaches our code)."""
    return Aws(AwsSettings(region="us-east-1", endpoint_url=gateway.url, access_key_id="testing",
                           secret_access_key="testing", max_attempts=1)).ec2()


def _launch(ec2: EC2Client) -> str:
    return ec2.run_instances(ImageId=base_ami(ec2), MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]


TAGS = {"goldsmith:build-id": "young"}


def _young(action: str, seconds: float, *resources: str) -> dict[str, Any]:
    rule: dict[str, Any] = {"kind": "not_found_after_create", "action": action, "seconds": seconds}
    return {**rule, "resources": list(resources)} if resources else rule


def test_authorizing_a_fresh_group_is_retried_and_cancellable(ec2: EC2Client, control: SandboxClient) -> None:
    """InvalidGroup.NotFound for 60 s: the retry pauses on the run's token, so a cancel ends it at once."""
    control.set_faults([_young("AuthorizeSecurityGroupIngress", 60.0)])
    group = creates.create_security_group(ec2, name="young-group", vpc_id=ec2ops.default_vpc(ec2), tags=TAGS,
                                          waits=ec2ops.Waits(delay=0.1))
    token = CancelToken()
    raised: list[BaseException] = []

    def authorize() -> None:
        try:
            ec2ops.allow_ssh_from(ec2, group, cidr="127.0.0.1/32", port=22, tags=TAGS,
                                  waits=ec2ops.Waits(delay=0.1, cancel=token))
        except BaseException as exc:
            raised.append(exc)

    worker = threading.Thread(target=authorize)
    worker.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    token.cancel("test")
    worker.join(10)
    assert not worker.is_alive() and time.monotonic() - t0 < 1.0
    assert [type(e) for e in raised] == [Cancelled]
    tries = [r["fault"] for r in control.requests(action="AuthorizeSecurityGroupIngress")]
    assert len(tries) >= 3 and set(tries) == {"InvalidGroup.NotFound"}


def test_authorizing_a_group_that_shows_up_late_succeeds(ec2: EC2Client, control: SandboxClient) -> None:
    control.set_faults([_young("AuthorizeSecurityGroupIngress", 0.5)])
    group = creates.create_security_group(ec2, name="late-group", vpc_id=ec2ops.default_vpc(ec2), tags=TAGS,
                                          waits=ec2ops.Waits(delay=0.1))
    ec2ops.allow_ssh_from(ec2, group, cidr="127.0.0.1/32", port=22, tags=TAGS, waits=ec2ops.Waits(delay=0.1))
    [described] = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
    assert [r["IpRanges"][0]["CidrIp"] for r in described["IpPermissions"]] == ["127.0.0.1/32"]


def test_a_not_found_that_lasts_is_raised_when_the_time_is_up(ec2: EC2Client, control: SandboxClient) -> None:
    control.set_faults([_young("AuthorizeSecurityGroupIngress", 60.0)])
    group = creates.create_security_group(ec2, name="lost-group", vpc_id=ec2ops.default_vpc(ec2), tags=TAGS,
                                          waits=ec2ops.Waits(delay=0.1))
    t0 = time.monotonic()
    with pytest.raises(AwsError, match=r"InvalidGroup\.NotFound"):
        ec2ops.allow_ssh_from(ec2, group, cidr="127.0.0.1/32", port=22, tags=TAGS,
                              waits=ec2ops.Waits(delay=0.1, not_found=0.5))
    assert time.monotonic() - t0 < 2.0


def test_terminate_confirms_a_lasting_not_found_before_taking_the_instance_for_gone(
    ec2: EC2Client, control: SandboxClient, runtime: FakeRuntime
) -> None:
    """TerminateInstances says NotFound beyond the grace while DescribeInstances shows the instance running:
    it is not gone, and terminate_instance says so instead of returning as if it were."""
    control.set_faults([_young("TerminateInstances", 60.0, "instance")])
    instance_id = _launch(ec2)
    with pytest.raises(AwsError, match=f"TerminateInstances {instance_id} answered NotFound .* shows it running"):
        ec2ops.terminate_instance(ec2, instance_id, ec2ops.Waits(delay=0.1, instance=5, not_found=0.5))
    assert instance_id in runtime.running and ("terminate_instance", instance_id) not in runtime.calls
    control.clear_faults()
    ec2ops.terminate_instance(ec2, instance_id, ec2ops.Waits(delay=0.1, instance=5))
    assert instance_id not in runtime.running


def test_terminate_right_after_launch_retries_then_waits_until_terminated(
    ec2: EC2Client, control: SandboxClient, runtime: FakeRuntime
) -> None:
    control.set_faults([_young("TerminateInstances", 0.5, "instance"), _young("DescribeInstances", 1.0, "instance")])
    instance_id = _launch(ec2)
    ec2ops.terminate_instance(ec2, instance_id, ec2ops.Waits(delay=0.1, instance=5))
    assert ("terminate_instance", instance_id) in runtime.calls
    [reservation] = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    assert reservation["Instances"][0]["State"]["Name"] == "terminated"
    faults = {r["action"]: r["fault"] for r in control.requests() if r["fault"]}
    assert faults["TerminateInstances"] == "InvalidInstanceID.NotFound"


def test_terminate_takes_an_instance_unknown_to_both_calls_for_gone(ec2: EC2Client) -> None:
    """NotFound lasting the whole grace, and DescribeInstances agreeing: there is nothing to terminate."""
    ec2ops.terminate_instance(ec2, "i-0123456789abcdef0", ec2ops.Waits(delay=0.1, instance=5, not_found=0.3))


def test_snapshot_wait_retries_a_snapshot_not_yet_known(ec2: EC2Client, control: SandboxClient) -> None:
    """botocore's snapshot_completed fails at once on InvalidSnapshot.NotFound; our waiter retries it."""
    instance_id = _launch(ec2)
    control.set_faults([_young("DescribeSnapshots", 0.5)])
    waits = ec2ops.Waits(delay=0.1, snapshot=10)
    snapshots = creates.create_snapshots(ec2, instance_id, "young", TAGS, waits=waits)
    ec2ops.wait_snapshots(ec2, list(snapshots.values()), waits)
    assert {r["fault"] for r in control.requests(action="DescribeSnapshots")} == {"InvalidSnapshot.NotFound", None}
    [create] = control.requests(action="CreateSnapshots")[-1:]
    assert "CopyTagsFromSource" not in create["params"]
    described = ec2.describe_snapshots(SnapshotIds=list(snapshots.values()))["Snapshots"]
    assert [{t["Key"]: t["Value"] for t in s.get("Tags", [])} for s in described] == \
        [TAGS] * len(snapshots)


def test_the_aws_target_uses_the_standard_retry_mode() -> None:
    """AWS recommends `standard`; `adaptive` (client-side rate limiting) is for special cases."""
    settings = AwsTarget(region="us-east-1").aws_settings()
    assert settings.retry_mode == "standard"
    config: Any = Aws(settings).ec2().meta.config
    assert config.retries["mode"] == "standard"
