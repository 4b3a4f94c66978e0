"""The sandbox network for real: instances at their own addresses, security groups enforced by the host's
nftables, outbound NAT, and nothing left on the host after a shutdown or a SIGKILLed daemon."""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from goldsmith.sandbox import manage
from goldsmith.sandbox.network import NETNS_DIR, IngressRule, SandboxNetwork
from goldsmith.sandbox.runtime import Endpoint, InstanceRuntime
from tests.sandbox.helpers import REPO, aws_keys, run_invoke, ssh_group
from tests.sandbox.test_runtime import Guest, Key, base_image  # noqa: F401  (base_image: a fixture)

pytestmark = pytest.mark.sandbox

# A web server in the base image's perl (python3-minimal has no http.server): answers its hostname.
WEB = ("nohup perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalPort => {port}, Listen => 5, ReuseAddr => 1)"
       " or die; $h = `hostname`; while ($c = $s->accept) {{ while (<$c>) {{ last if /^\\r?$/ }}"
       " print $c \"HTTP/1.0 200 OK\\r\\nContent-Length: \" . length($h) . \"\\r\\n\\r\\n$h\"; close $c }}'"
       " >/dev/null 2>&1 </dev/null &")


@pytest.fixture
def runtime(tmp_path: Path, base_image: Path) -> Iterator[InstanceRuntime]:  # noqa: F811
    rt = InstanceRuntime(tmp_path / "state", base_image)
    rt.register_base_snapshot("snap-base")
    yield rt
    rt.shutdown()


@pytest.fixture(scope="module")
def key() -> Key:
    return Key()


def ssh_from(source: str) -> IngressRule:
    return IngressRule("tcp", 22, 22, (source,))


def connects(host: str, port: int, timeout: float = 2.0) -> bool:
    """A TCP connect from this host: True if accepted, False if it timed out or was refused."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except (TimeoutError, ConnectionRefusedError):
        return False
    return True


def serve(runtime: InstanceRuntime, instance_id: str, key: Key, port: int) -> str:
    """Boot an instance reachable by SSH from this host that answers its own id over HTTP on `port`."""
    runtime.create_volume(f"vol-{instance_id}", "snap-base")
    endpoint = runtime.start_instance(instance_id, f"vol-{instance_id}", {}, authorized_key=key.public,
                                      ingress=[ssh_from(f"{runtime.network.host_address}/32")])
    guest = Guest(endpoint, key)
    guest.run(WEB.format(port=port))
    guest.run(f"for i in $(seq 100); do ss -Hltn | grep -q ':{port} ' && exit 0; sleep 0.05; done; exit 1")
    guest.close()
    return endpoint.host


def http_get(host: str, port: int) -> str:
    with urllib.request.urlopen(f"http://{host}:{port}/", timeout=5) as answer:
        return str(answer.read().decode())


def test_two_instances_of_one_image_listen_on_the_same_port_and_both_answer(runtime: InstanceRuntime,
                                                                             key: Key) -> None:
    first, second = serve(runtime, "i-web1", key, 8080), serve(runtime, "i-web2", key, 8080)
    assert first != second
    host = f"{runtime.network.host_address}/32"
    runtime.set_ingress({i: [ssh_from(host), IngressRule("tcp", 8080, 8080, (host,))] for i in ("i-web1", "i-web2")})
    assert (http_get(first, 8080), http_get(second, 8080)) == ("i-web1\n", "i-web2\n")


def test_security_group_rules_decide_who_reaches_an_instance(runtime: InstanceRuntime, key: Key) -> None:
    address = serve(runtime, "i-sg", key, 8080)
    me = f"{runtime.network.host_address}/32"
    assert connects(address, 22) and not connects(address, 8080)  # SSH from the builder's /32 only
    runtime.set_ingress({"i-sg": [ssh_from(me), IngressRule("tcp", 8000, 8100, ("0.0.0.0/0",))]})
    assert http_get(address, 8080) == "i-sg\n"
    runtime.set_ingress({"i-sg": [ssh_from("203.0.113.7/32")]})  # SSH from someone else's address only
    assert not connects(address, 22) and not connects(address, 8080)
    runtime.set_ingress({"i-sg": []})  # a group without any rule
    assert not connects(address, 22)
    runtime.set_ingress({"i-sg": [IngressRule("-1", 0, 65535, (me,))]})  # all traffic from the builder
    assert connects(address, 22) and connects(address, 8080)


def test_instances_reach_each_other_only_as_their_groups_allow(runtime: InstanceRuntime, key: Key) -> None:
    web, client = serve(runtime, "i-server", key, 8080), serve(runtime, "i-client", key, 8081)
    me = f"{runtime.network.host_address}/32"
    guest = Guest(_endpoint(runtime, "i-client"), key)
    fetch = http_get_inside(web, 8080)
    assert "i-server" not in guest.run(fetch, check=False)[1]
    runtime.set_ingress({"i-server": [ssh_from(me), IngressRule("tcp", 8080, 8080, (f"{client}/32",))]})
    assert guest.run(fetch)[1].endswith("\r\n\r\ni-server\n")
    guest.close()


def http_get_inside(host: str, port: int, path: str = "/") -> str:
    """A shell command that GETs a page with bash alone (the base image has no curl), headers and all."""
    request = f"GET {path} HTTP/1.1\\r\\nHost: {host}\\r\\nConnection: close\\r\\n\\r\\n"
    return f"timeout 10 bash -c 'exec 3<>/dev/tcp/{host}/{port} && printf \"{request}\" >&3 && cat <&3'"


def _endpoint(runtime: InstanceRuntime, instance_id: str) -> Endpoint:
    endpoint = runtime.endpoint(instance_id)
    assert endpoint is not None
    return endpoint


def _default_gateway() -> str:
    routes = json.loads(subprocess.run(["ip", "-4", "-j", "route", "show", "default"], capture_output=True,
                                       text=True, check=True).stdout)
    return str(routes[0]["gateway"]) if routes and routes[0].get("gateway") else ""


def test_outbound_is_package_access_only(runtime: InstanceRuntime, key: Key) -> None:
    runtime.create_volume("vol-out", "snap-base")
    endpoint = runtime.start_instance("i-out", "vol-out", {}, authorized_key=key.public,
                                      ingress=[ssh_from(f"{runtime.network.host_address}/32")])
    guest = Guest(endpoint, key)
    # the host's own network (its gateway here) on a port that is not package access: refused at once
    gateway = _default_gateway()
    if gateway:
        status, out = guest.run(f"timeout 5 bash -c '</dev/tcp/{gateway}/22' 2>&1", check=False)
        assert status != 0 and "No route to host" in out, out
    try:
        urllib.request.urlopen("http://deb.debian.org/debian/", timeout=5).close()
    except OSError:
        guest.close()
        pytest.skip("this host has no outbound HTTP access itself")
    answer = guest.run(http_get_inside("deb.debian.org", 80, "/debian/"), check=False)[1]
    # the VPC's resolver (base + 2, as on AWS) answers too: it forwards to the host's
    guest.run(f"echo 'nameserver {runtime.network.dns_address}' | sudo tee /etc/resolv.conf >/dev/null")
    resolved = guest.run("getent ahostsv4 deb.debian.org", check=False)
    guest.close()
    assert resolved[0] == 0 and resolved[1].split(), resolved
    assert answer.split("\r\n", 1)[0].split()[1] == "200", answer[:300]


def _host_leftovers(network: SandboxNetwork) -> list[str]:
    """Whatever of this sandbox network is still on the host: namespaces, links, nftables table, mounts."""
    left = [str(p) for p in NETNS_DIR.glob(f"gs{network.tag}-*")] if NETNS_DIR.exists() else []
    links = json.loads(subprocess.run(["ip", "-j", "link"], capture_output=True, text=True, check=True).stdout)
    left += [link["ifname"] for link in links if link["ifname"] == network.bridge
             or link.get("master") == network.bridge]
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True).stdout
    left += [line for line in tables.splitlines() if network.table in line]
    left += [line for line in Path("/proc/mounts").read_text().splitlines() if f"/gs{network.tag}-" in line]
    return left


def test_shutdown_leaves_nothing_of_the_network(tmp_path: Path, base_image: Path, key: Key) -> None:  # noqa: F811
    runtime = InstanceRuntime(tmp_path / "state", base_image)
    runtime.register_base_snapshot("snap-base")
    runtime.create_volume("vol-a", "snap-base")
    runtime.start_instance("i-a", "vol-a", {}, authorized_key=key.public)
    network = runtime.network
    assert _host_leftovers(network)  # it is there while the sandbox runs
    runtime.shutdown()
    assert _host_leftovers(network) == []


def test_a_sigkilled_daemon_leaves_nothing_after_down_and_up_works_again(tmp_path: Path) -> None:
    state_dir = tmp_path.resolve()
    info = manage.up(state_dir)
    network = SandboxNetwork(ipaddress.IPv4Network(info.network))
    try:
        ec2 = boto3.client("ec2", region_name=info.region, endpoint_url=info.gateway_url, **aws_keys(info))
        image = ec2.describe_images(Owners=["136693071363"])["Images"][0]["ImageId"]
        group = ssh_group(ec2, info.host_address)
        instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SecurityGroupIds=[group])["Instances"][0]
        assert connects(instance["PrivateIpAddress"], 22)
        os.kill(info.pid, signal.SIGKILL)
        for _ in range(100):
            if not Path(f"/proc/{info.pid}").exists():
                break
            time.sleep(0.05)
        manage.down(state_dir)
        assert _host_leftovers(network) == []
        again = manage.up(state_dir)
        assert again.pid != info.pid and again.network
    finally:
        manage.down(state_dir)
    assert _host_leftovers(SandboxNetwork(ipaddress.IPv4Network(again.network))) == []


def test_a_connect_to_a_filtered_port_times_out_rather_than_being_refused(runtime: InstanceRuntime,
                                                                         key: Key) -> None:
    """As on AWS: a security group drops what it does not allow (no RST, no ICMP)."""
    address = serve(runtime, "i-drop", key, 8080)
    sock = socket.socket()
    sock.settimeout(1.0)
    try:
        with pytest.raises((TimeoutError, OSError)) as raised:
            sock.connect((address, 8080))
        assert isinstance(raised.value, TimeoutError) or raised.value.errno == errno.ETIMEDOUT, raised.value
    finally:
        sock.close()


def test_security_group_changes_through_the_api_take_effect(ec2: Any, sandbox: Any) -> None:
    me = f"{sandbox.host_address}/32"
    ssh = [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": me}]}]
    closed = ec2.create_security_group(GroupName="net-closed", Description="no rules")["GroupId"]
    image = ec2.describe_images(Owners=["136693071363"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SecurityGroupIds=[closed])["Instances"][0]
    address = instance["PrivateIpAddress"]
    try:
        assert not connects(address, 22)  # a group without the SSH rule blocks SSH
        ec2.authorize_security_group_ingress(GroupId=closed, IpPermissions=ssh)
        assert connects(address, 22)
        ec2.revoke_security_group_ingress(GroupId=closed, IpPermissions=ssh)
        assert not connects(address, 22)
        elsewhere = ec2.create_security_group(GroupName="net-elsewhere", Description="SSH from elsewhere")["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=elsewhere, IpPermissions=[
            {**ssh[0], "IpRanges": [{"CidrIp": "203.0.113.7/32"}]}])
        ec2.modify_instance_attribute(InstanceId=instance["InstanceId"], Groups=[elsewhere])
        assert not connects(address, 22)  # SSH from another /32 only: not from this host
        ec2.modify_instance_attribute(InstanceId=instance["InstanceId"], Groups=[elsewhere, ssh_group(ec2, me[:-3])])
        assert connects(address, 22)
    finally:
        ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])


def test_validate_ingress_opens_its_ports_from_the_builder_only(sandbox: Any, sandbox_dir: Path, tmp_path: Path,
                                                                sandbox_client: Any) -> None:
    sandbox_client.reset_counts()
    proc = run_invoke(["bake", str(REPO / "tests" / "fixtures" / "recipes" / "ingress.yaml")], work_dir=tmp_path,
                      env={"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir)})
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    granted = [r["params"] for r in sandbox_client.requests("AuthorizeSecurityGroupIngress")]
    ports = sorted(tuple(v for k, v in p.items() if k.endswith(".FromPort")) for p in granted)
    assert ports == [("22",), ("22", "8080")]  # the build instance's group, the validation instance's
    for params in granted:
        assert {v for k, v in params.items() if k.endswith(".CidrIp")} == {f"{sandbox.host_address}/32"}
