"""The gateway against a real moto server process and an in-memory fake of the instance runtime."""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from goldsmith.errors import EnvironmentProblem, InputError
from goldsmith.sandbox.client import SandboxClient
from goldsmith.sandbox.credentials import UNCHECKED
from goldsmith.sandbox.gateway import Gateway
from goldsmith.sandbox.latency import LatencyModel
from goldsmith.sandbox.moto_fixes import BASE_IMAGE_OWNER
from goldsmith.sandbox.moto_server import MotoProcess
from goldsmith.sandbox.sigv4 import sign


@dataclass(frozen=True)
class FakeEndpoint:
    host: str
    port: int


@dataclass
class FakeInfo:
    instance_id: str
    state: str
    endpoint: FakeEndpoint | None
    root_volume: str
    volumes: dict[str, str]
    pid: int | None = None


@dataclass
class FakeRuntime:
    """Records every call; volumes/snapshots are sets; fails on demand."""

    calls: list[tuple[Any, ...]] = field(default_factory=list)
    base: set[str] = field(default_factory=set)
    volumes: dict[str, str | None] = field(default_factory=dict)
    snapshots: set[str] = field(default_factory=set)
    running: dict[str, FakeInfo] = field(default_factory=dict)
    addresses: dict[str, str | None] = field(default_factory=dict)
    ingress: dict[str, list[Any]] = field(default_factory=dict)
    fail_on: str | None = None
    stored: int = 4096  # bytes each snapshot_volume stores (the data changed since the volume's last snapshot)
    base_size: int = 2**30  # the base image's data
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _record(self, *call: Any) -> None:
        with self.lock:
            self.calls.append(call)
        if self.fail_on == call[0]:
            raise RuntimeError(f"fake runtime told to fail {call[0]}")

    def register_base_snapshot(self, snapshot_id: str) -> None:
        self.base.add(snapshot_id)

    def create_volume(self, volume_id: str, snapshot_id: str | None) -> None:
        self._record("create_volume", volume_id, snapshot_id)
        assert snapshot_id is None or snapshot_id in self.base | self.snapshots, snapshot_id
        self.volumes[volume_id] = snapshot_id

    def delete_volume(self, volume_id: str) -> None:
        self._record("delete_volume", volume_id)
        del self.volumes[volume_id]

    def snapshot_volume(self, volume_id: str, snapshot_id: str) -> int:
        self._record("snapshot_volume", volume_id, snapshot_id)
        assert volume_id in self.volumes
        self.snapshots.add(snapshot_id)
        return self.stored

    def copy_snapshot(self, source_snapshot_id: str, new_snapshot_id: str) -> None:
        self._record("copy_snapshot", source_snapshot_id, new_snapshot_id)
        assert source_snapshot_id in self.snapshots | self.base
        self.snapshots.add(new_snapshot_id)

    def delete_snapshot(self, snapshot_id: str) -> None:
        self._record("delete_snapshot", snapshot_id)
        self.snapshots.discard(snapshot_id)

    def snapshot_size(self, snapshot_id: str) -> int:
        return 4096

    def base_bytes(self) -> int:
        return self.base_size

    def start_instance(self, instance_id: str, root_volume: str, data_volumes: dict[str, str], *,
                       user: str = "admin", authorized_key: str | None = None, address: str | None = None,
                       ingress: Any = None) -> FakeEndpoint:
        self._record("start_instance", instance_id, root_volume, dict(data_volumes), user, authorized_key)
        self.addresses[instance_id], self.ingress[instance_id] = address, list(ingress or [])
        endpoint = FakeEndpoint("127.0.0.1", 20000 + len(self.calls))
        self.running[instance_id] = FakeInfo(instance_id, "running", endpoint, root_volume, data_volumes)
        return endpoint

    def set_ingress(self, rules: dict[str, Any]) -> None:
        self.ingress.update({i: list(r) for i, r in rules.items()})

    def stop_instance(self, instance_id: str) -> None:
        self._record("stop_instance", instance_id)
        info = self.running[instance_id]
        info.state, info.endpoint = "stopped", None

    def reboot_instance(self, instance_id: str) -> None:
        self._record("reboot_instance", instance_id)

    def terminate_instance(self, instance_id: str) -> None:
        self._record("terminate_instance", instance_id)
        self.running.pop(instance_id, None)

    def endpoint(self, instance_id: str) -> FakeEndpoint | None:
        info = self.running.get(instance_id)
        return info.endpoint if info else None

    def instances(self) -> list[FakeInfo]:
        return list(self.running.values())

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0] == name]


@contextlib.contextmanager
def gateway_on_own_moto(runtime: FakeRuntime) -> Iterator[Gateway]:
    """A gateway in front of a moto server of its own, both stopped afterwards (a module fixture's body)."""
    server = MotoProcess.start(base_image_name="debian-12-sandbox-amd64-20260101")
    gw = Gateway(server.url, runtime, credentials=UNCHECKED)
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()
        server.stop()


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoProcess]:
    server = MotoProcess.start(base_image_name="debian-12-sandbox-amd64-20260101")
    yield server
    server.stop()


@pytest.fixture
def runtime() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
def gateway(moto: MotoProcess, runtime: FakeRuntime) -> Iterator[Gateway]:
    gw = Gateway(moto.url, runtime, credentials=UNCHECKED)
    gw.start()
    yield gw
    gw.stop()


def ec2_client(gateway: Gateway, region: str = "us-east-1", attempts: int = 1, service: str = "ec2") -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service, endpoint_url=gateway.url, region_name=region, aws_access_key_id="testing",
        aws_secret_access_key="testing", config=Config(retries={"total_max_attempts": attempts, "mode": "standard"}))


def base_ami(ec2: Any) -> str:
    images = ec2.describe_images(Owners=[BASE_IMAGE_OWNER])["Images"]
    return str(images[0]["ImageId"])


def launch(ec2: Any, key: str | None = None, image_id: str | None = None) -> str:
    extra = {"KeyName": key} if key else {}
    run = ec2.run_instances(ImageId=image_id or base_ami(ec2), MinCount=1, MaxCount=1, **extra,
                            BlockDeviceMappings=[{"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 10}}])
    return str(run["Instances"][0]["InstanceId"])


def test_counts_and_request_log_see_only_client_calls(gateway: Gateway) -> None:
    ec2, client = ec2_client(gateway), SandboxClient(gateway.url, UNCHECKED)
    client.reset_counts()
    image_id = base_ami(ec2)
    base_ami(ec2)
    ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1)
    assert client.counts() == {"DescribeImages": 2, "RunInstances": 1}
    assert client.counts(region="eu-west-1") == {}
    [run] = client.requests(action="RunInstances")
    assert (run["region"], run["params"]["ImageId"], run["service"]) == ("us-east-1", image_id, "ec2")
    ec2_client(gateway, service="sts").get_caller_identity()
    assert client.service_counts() == {"ec2": 3, "sts": 1}
    client.reset_counts()
    assert client.counts() == {} and client.service_counts() == {}


def test_secret_parameters_are_redacted_in_the_log(gateway: Gateway) -> None:
    ssm, client = ec2_client(gateway, service="ssm"), SandboxClient(gateway.url, UNCHECKED)
    ssm.put_parameter(Name="/gs/secret", Value="hunter2", Type="SecureString")
    [put] = client.requests(action="PutParameter")
    assert put["params"]["Value"] == "<redacted>" and "hunter2" not in str(client.requests())


def test_run_instances_starts_a_machine_with_the_key(gateway: Gateway, runtime: FakeRuntime) -> None:
    ec2, client = ec2_client(gateway), SandboxClient(gateway.url, UNCHECKED)
    ec2.create_key_pair(KeyName="gw-key", KeyType="ed25519")
    public = ec2.describe_key_pairs(KeyNames=["gw-key"], IncludePublicKey=True)["KeyPairs"][0]["PublicKey"]
    instance_id = launch(ec2, key="gw-key")
    vols = {v["Attachments"][0]["Device"]: v for v in ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}])["Volumes"]}
    created = {c[1]: c[2] for c in runtime.named("create_volume")}
    assert created == {vols["/dev/xvda"]["VolumeId"]: vols["/dev/xvda"]["SnapshotId"],
                       vols["/dev/sdf"]["VolumeId"]: None}
    [start] = runtime.named("start_instance")
    assert start == ("start_instance", instance_id, vols["/dev/xvda"]["VolumeId"],
                     {"/dev/sdf": vols["/dev/sdf"]["VolumeId"]}, "admin", public)
    host, port = client.endpoint(instance_id)
    assert host == "127.0.0.1" and port == runtime.running[instance_id].endpoint.port  # type: ignore[union-attr]
    [row] = client.instances()
    assert row["instance_id"] == instance_id and row["state"] == "running"


def test_stop_snapshot_image_copy_terminate_drive_the_runtime(gateway: Gateway, runtime: FakeRuntime) -> None:
    ec2, west = ec2_client(gateway), ec2_client(gateway, region="us-west-2")
    instance_id = launch(ec2)
    ec2.stop_instances(InstanceIds=[instance_id])
    assert runtime.named("stop_instance") == [("stop_instance", instance_id)]
    snaps = ec2.create_snapshots(InstanceSpecification={"InstanceId": instance_id})["Snapshots"]
    assert {(c[1], c[2]) for c in runtime.named("snapshot_volume")} == \
        {(s["VolumeId"], s["SnapshotId"]) for s in snaps}
    image_id = ec2.create_image(InstanceId=instance_id, Name="gw-image-1")["ImageId"]
    assert len(runtime.named("snapshot_volume")) == 4
    copy_id = west.copy_image(SourceImageId=image_id, SourceRegion="us-east-1", Name="gw-copy-1")["ImageId"]
    copied = west.describe_images(ImageIds=[copy_id])["Images"][0]["BlockDeviceMappings"]
    assert {c[2] for c in runtime.named("copy_snapshot")} == {m["Ebs"]["SnapshotId"] for m in copied}
    ec2.start_instances(InstanceIds=[instance_id])
    assert len(runtime.named("start_instance")) == 2
    ec2.terminate_instances(InstanceIds=[instance_id])
    assert runtime.named("terminate_instance") == [("terminate_instance", instance_id)]
    assert len(runtime.named("delete_volume")) == 2  # both volumes were DeleteOnTermination
    kept = {s["snapshot_id"] for s in SandboxClient(gateway.url, UNCHECKED).snapshots()}
    assert kept >= {s["SnapshotId"] for s in snaps}


def test_deregister_with_its_snapshots_frees_them_in_the_runtime(gateway: Gateway, runtime: FakeRuntime) -> None:
    """DeregisterImage DeleteAssociatedSnapshots deletes the snapshots in moto; the runtime frees their layers."""
    ec2 = ec2_client(gateway)
    instance_id = launch(ec2)
    ec2.stop_instances(InstanceIds=[instance_id])
    image_id = ec2.create_image(InstanceId=instance_id, Name="gw-deregister-1")["ImageId"]
    snapshots = {m["Ebs"]["SnapshotId"] for m in ec2.describe_images(ImageIds=[image_id])["Images"][0][
        "BlockDeviceMappings"]}
    assert snapshots <= runtime.snapshots
    ec2.deregister_image(ImageId=image_id, DeleteAssociatedSnapshots=True)
    assert {c[1] for c in runtime.named("delete_snapshot")} == snapshots
    assert not snapshots & runtime.snapshots
    ec2.terminate_instances(InstanceIds=[instance_id])


def test_a_runtime_failure_is_an_aws_internal_error(gateway: Gateway, runtime: FakeRuntime) -> None:
    ec2 = ec2_client(gateway)
    runtime.fail_on = "start_instance"
    before = {i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]}
    with pytest.raises(ClientError) as err:
        launch(ec2)
    assert err.value.response["Error"]["Code"] == "InternalError"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    after = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
             if i["InstanceId"] not in before]
    assert [i["State"]["Name"] for i in after] == ["terminated"]
    assert runtime.volumes == {}


@pytest.mark.parametrize(("error", "status"), [("RequestLimitExceeded", 503), ("InternalError", 500),
                                               ("ServiceUnavailable", 503)])
def test_faults_at_rate_one_reach_boto3(gateway: Gateway, error: str, status: int) -> None:
    ec2, client = ec2_client(gateway), SandboxClient(gateway.url, UNCHECKED)
    client.set_faults([{"action": "*", "error": error, "rate": 1.0}], seed=7)
    with pytest.raises(ClientError) as err:
        ec2.describe_images(Owners=["self"])
    assert err.value.response["Error"]["Code"] == error
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    client.clear_faults()
    ec2.describe_images(Owners=["self"])


def test_throttling_is_retried_by_botocore(gateway: Gateway) -> None:
    client = SandboxClient(gateway.url, UNCHECKED)
    client.set_faults([{"action": "DescribeImages", "error": "RequestLimitExceeded", "rate": 1.0}])
    client.reset_counts()
    with pytest.raises(ClientError):
        ec2_client(gateway, attempts=3).describe_images(Owners=["self"])
    assert client.counts() == {"DescribeImages": 3}
    client.clear_faults()


def test_nth_call_fault_hits_only_that_call(gateway: Gateway) -> None:
    ec2, client = ec2_client(gateway), SandboxClient(gateway.url, UNCHECKED)
    client.set_faults([{"action": "DescribeVolumes", "error": "InternalError", "nth": 2}])
    ec2.describe_volumes()
    with pytest.raises(ClientError) as err:
        ec2.describe_volumes()
    assert err.value.response["Error"]["Code"] == "InternalError"
    ec2.describe_volumes()
    ec2.describe_images(Owners=["self"])
    client.clear_faults()


def test_json_protocol_fault_is_a_throttling_exception(gateway: Gateway) -> None:
    ssm, client = ec2_client(gateway, service="ssm"), SandboxClient(gateway.url, UNCHECKED)
    client.set_faults([{"action": "GetParameter", "error": "RequestLimitExceeded", "rate": 1.0}])
    with pytest.raises(ClientError) as err:
        ssm.get_parameter(Name="/nope")
    assert err.value.response["Error"]["Code"] == "ThrottlingException"
    client.clear_faults()


def test_a_fault_rule_can_be_limited_to_one_region(gateway: Gateway) -> None:
    """The second region's write of a multi-region change fails, the first region's does not; AccessDenied is
    answered at once (botocore does not retry it)."""
    client = SandboxClient(gateway.url, UNCHECKED)
    client.set_faults([{"action": "GetParameter", "error": "AccessDenied", "rate": 1.0, "region": "us-west-2"}])
    client.reset_counts()
    with pytest.raises(ClientError) as err:
        ec2_client(gateway, service="ssm", region="us-west-2").get_parameter(Name="/nope")
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"
    with pytest.raises(ClientError) as err:
        ec2_client(gateway, service="ssm").get_parameter(Name="/nope")
    assert err.value.response["Error"]["Code"] == "ParameterNotFound"
    assert client.counts() == {"GetParameter": 2}
    assert gateway.faults.describe()["rules"][0]["region"] == "us-west-2"
    client.clear_faults()


def test_a_lost_answer_is_carried_out_and_botocore_retries_a_call_that_happened(
    gateway: Gateway, runtime: FakeRuntime
) -> None:
    """lose_answer: moto makes the group, the client gets a 500, botocore retries, and the retry meets the
    first attempt's group (InvalidGroup.Duplicate after one retry); a later call is answered as usual."""
    ec2, client = ec2_client(gateway, attempts=3), SandboxClient(gateway.url, UNCHECKED)
    client.set_faults([{"action": "CreateSecurityGroup", "error": "InternalError", "nth": 1, "lose_answer": True}])
    client.reset_counts()
    with pytest.raises(ClientError) as err:
        ec2.create_security_group(GroupName="lost-answer", Description="made by the first attempt")
    assert err.value.response["Error"]["Code"] == "InvalidGroup.Duplicate"
    assert err.value.response["ResponseMetadata"]["RetryAttempts"] == 1
    assert [r["fault"] for r in client.requests(action="CreateSecurityGroup")] == ["InternalError", None]
    [group] = ec2.describe_security_groups(GroupNames=["lost-answer"])["SecurityGroups"]
    assert ec2.create_security_group(GroupName="lost-again", Description="no fault")["GroupId"] != group["GroupId"]
    assert gateway.faults.describe()["rules"][0]["lose_answer"] is True
    client.clear_faults()


def test_a_lost_answer_drives_the_instance_runtime(gateway: Gateway, runtime: FakeRuntime) -> None:
    """A RunInstances whose answer is lost still starts its machine, as EC2 would have launched it."""
    ec2, client = ec2_client(gateway), SandboxClient(gateway.url, UNCHECKED)
    image_id = base_ami(ec2)
    client.set_faults([{"action": "RunInstances", "error": "ServiceUnavailable", "nth": 1, "lose_answer": True}])
    with pytest.raises(ClientError) as err:
        ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1)
    assert err.value.response["Error"]["Code"] == "ServiceUnavailable"
    assert len(runtime.named("start_instance")) == 1
    client.clear_faults()


@pytest.mark.parametrize("error", ["RequestLimitExceeded", "AccessDenied", "ResourceLimitExceeded"])
def test_only_errors_of_a_carried_out_call_can_replace_its_answer(gateway: Gateway, error: str) -> None:
    """Throttling and refusals are answered before AWS does anything: a lost answer is a 500 or a 503."""
    with pytest.raises(InputError, match="a lost answer is replaced by InternalError or ServiceUnavailable"):
        gateway.faults.configure({"rules": [{"action": "CreateKeyPair", "error": error, "nth": 1,
                                             "lose_answer": True}]})
    with pytest.raises(InputError, match="lose_answer must be true or false"):
        gateway.faults.configure({"rules": [{"action": "CreateKeyPair", "error": "InternalError",
                                             "lose_answer": "yes"}]})


def test_latency_profile_makes_waiters_wait(gateway: Gateway) -> None:
    ec2, client = ec2_client(gateway), SandboxClient(gateway.url, UNCHECKED)
    client.set_latency("aws", scale=0.25)
    instance_id = launch(ec2)
    states = [ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
              ["State"]["Name"]]
    client.reset_counts()
    # Attempts are generous: how long a transition takes is the model's business (an image costs its
    # snapshots, which grow with the base image), and a fast idle machine polls 40 times in under a second.
    patient = {"Delay": 0.02, "MaxAttempts": 1500}
    ec2.get_waiter("instance_running").wait(InstanceIds=[instance_id], WaiterConfig=patient)
    assert states == ["pending"] and client.counts()["DescribeInstances"] > 1
    ec2.stop_instances(InstanceIds=[instance_id])
    assert ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"] == \
        {"Code": 64, "Name": "stopping"}
    client.reset_counts()
    image_id = ec2.create_image(InstanceId=instance_id, Name="gw-latency-image")["ImageId"]
    assert ec2.describe_images(ImageIds=[image_id])["Images"][0]["State"] == "pending"
    ec2.get_waiter("image_available").wait(ImageIds=[image_id], WaiterConfig=patient)
    assert client.counts()["DescribeImages"] > 2
    client.set_latency("instant")


@pytest.mark.parametrize("scale", [float("nan"), float("inf"), -1.0, 101.0])
def test_a_latency_scale_that_would_never_expire_is_refused(scale: float) -> None:
    model = LatencyModel()
    with pytest.raises(InputError, match="latency scale must be a number from 0 to 100"):
        model.configure("aws", scale)
    assert model.describe() == {"profile": "instant", "scale": 1.0, "time_scale": 0.0}


@pytest.mark.parametrize("scale", ["NaN", "Infinity", "-Infinity"])
def test_the_control_api_answers_400_to_a_non_finite_scale(gateway: Gateway, scale: str) -> None:
    host, port = urlsplit(gateway.url).hostname, urlsplit(gateway.url).port
    conn = http.client.HTTPConnection(host or "127.0.0.1", port, timeout=10)
    body = f'{{"profile": "aws", "scale": {scale}}}'.encode()
    signed = sign("PUT", f"{gateway.url}/_sandbox/latency", body, {}, UNCHECKED.access_key_id,
                  UNCHECKED.secret_access_key, "us-east-1", "sandbox")
    conn.request("PUT", "/_sandbox/latency", body=body, headers=signed)
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    assert response.status == 400 and "latency scale" in body["error"]
    assert gateway.latency.describe() == {"profile": "instant", "scale": 1.0, "time_scale": 0.0}


def _code(call: Any) -> str:
    with pytest.raises(ClientError) as err:
        call()
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return str(err.value.response["Error"]["Code"])


def test_not_found_after_create_answers_each_resource_kind_as_ec2_does(gateway: Gateway, runtime: FakeRuntime) -> None:
    """Plain boto3 sees EC2's eventual consistency: references to what was just created are NotFound."""
    ec2, client = ec2_client(gateway), SandboxClient(gateway.url, UNCHECKED)
    young = {"kind": "not_found_after_create", "seconds": 60.0}
    client.set_faults([{**young, "action": action} for action in (
        "DescribeKeyPairs", "DescribeSecurityGroups", "DescribeInstances", "DescribeSnapshots", "DescribeImages")]
        + [{**young, "action": "RunInstances", "resources": ["security-group", "key-pair"]}])
    key = ec2.create_key_pair(KeyName="gw-young-key", KeyType="ed25519")["KeyName"]
    group = ec2.create_security_group(GroupName="gw-young", Description="young")["GroupId"]
    assert _code(lambda: ec2.describe_key_pairs(KeyNames=[key])) == "InvalidKeyPair.NotFound"
    assert _code(lambda: ec2.describe_security_groups(GroupIds=[group])) == "InvalidGroup.NotFound"
    assert _code(lambda: ec2.run_instances(ImageId=base_ami(ec2), MinCount=1, MaxCount=1, KeyName=key)) == \
        "InvalidKeyPair.NotFound"
    assert _code(lambda: ec2.run_instances(ImageId=base_ami(ec2), MinCount=1, MaxCount=1,
                                           SecurityGroupIds=[group])) == "InvalidGroup.NotFound"
    assert runtime.named("start_instance") == []  # answered by the gateway: moto never launched
    assert key in {k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]}  # listing is no reference
    assert _code(lambda: ec2.create_key_pair(KeyName=key)) == "InvalidKeyPair.Duplicate"  # names, not references
    instance_id = launch(ec2)  # only the base AMI, long created: launched
    assert _code(lambda: ec2.describe_instances(InstanceIds=[instance_id])) == "InvalidInstanceID.NotFound"
    snapshots = [s["SnapshotId"] for s in
                 ec2.create_snapshots(InstanceSpecification={"InstanceId": instance_id})["Snapshots"]]
    assert _code(lambda: ec2.describe_snapshots(SnapshotIds=snapshots)) == "InvalidSnapshot.NotFound"
    image_id = ec2.create_image(InstanceId=instance_id, Name="gw-young-image")["ImageId"]
    assert _code(lambda: ec2.describe_images(ImageIds=[image_id])) == "InvalidAMIID.NotFound"
    faulted = [(r["action"], r["fault"]) for r in client.requests() if r["fault"]]
    assert ("DescribeImages", "InvalidAMIID.NotFound") in faulted
    assert client.requests(action="DescribeKeyPairs")[-1]["fault"] is None
    client.clear_faults()
    assert ec2.describe_images(ImageIds=[image_id])["Images"][0]["ImageId"] == image_id


def test_not_found_after_create_ends_after_its_seconds(gateway: Gateway) -> None:
    ec2, client = ec2_client(gateway), SandboxClient(gateway.url, UNCHECKED)
    client.set_faults([{"kind": "not_found_after_create", "action": "*", "seconds": 0.5, "resources": ["instance"]}])
    instance_id = launch(ec2)
    assert _code(lambda: ec2.describe_instances(InstanceIds=[instance_id])) == "InvalidInstanceID.NotFound"
    assert _code(lambda: ec2.terminate_instances(InstanceIds=[instance_id])) == "InvalidInstanceID.NotFound"
    ec2.describe_images(Owners=["self"])  # the rule is for instances only
    time.sleep(0.6)
    [reservation] = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    assert reservation["Instances"][0]["State"]["Name"] == "running"
    client.clear_faults()


@pytest.mark.parametrize(("rule", "message"), [
    ({"kind": "eventually"}, "unknown fault kind 'eventually'"),
    ({"kind": "not_found_after_create", "action": "*"}, "needs `seconds`"),
    ({"kind": "not_found_after_create", "seconds": 1, "resources": ["volume"]}, "unknown resource kind 'volume'"),
    ({"kind": "not_found_after_create", "seconds": 1, "error": "InternalError"}, "unknown field(s)"),
])
def test_a_bad_not_found_rule_is_refused(gateway: Gateway, rule: dict[str, Any], message: str) -> None:
    client = SandboxClient(gateway.url, UNCHECKED)
    with pytest.raises(EnvironmentProblem, match=re.escape(message)):
        client.set_faults([rule])
    assert gateway.faults.describe()["rules"] == []
