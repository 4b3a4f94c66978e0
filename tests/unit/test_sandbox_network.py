"""The sandbox network's pure parts: security groups as host rules, the nftables text, its settings."""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from goldsmith.errors import EnvironmentProblem
from goldsmith.sandbox import manage
from goldsmith.sandbox.credentials import Credentials
from goldsmith.sandbox.gateway_groups import group_members, ingress_rules
from goldsmith.sandbox.manage import SandboxInfo
from goldsmith.sandbox.network import (
    ALLOW_ALL,
    IngressRule,
    SandboxNetwork,
    claim,
    outbound_ports,
    pool,
    probe,
    release,
    upstream_resolvers,
)
from goldsmith.sandbox.runtime import InstanceRuntime, _Instance, _wait_ready

NET = SandboxNetwork(ipaddress.IPv4Network("100.77.0.0/16"))


def test_ip_permissions_become_rules_with_group_sources_resolved_to_member_addresses() -> None:
    members = group_members({"i-a": ["sg-web"], "i-b": ["sg-web", "sg-db"], "i-c": ["sg-db"]},
                            {"i-a": "100.77.0.4", "i-b": "100.77.0.5", "i-c": None})
    assert members == {"sg-web": ["100.77.0.4", "100.77.0.5"], "sg-db": ["100.77.0.5"]}
    permissions = [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "100.77.0.1/32"}]},
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": "sg-web"}]},
        {"IpProtocol": "6", "FromPort": 8000, "ToPort": 8100, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},  # IPv4 only
        {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "UserIdGroupPairs": [{"GroupId": "sg-empty"}]},
    ]
    assert ingress_rules(permissions, members) == [
        IngressRule("tcp", 22, 22, ("100.77.0.1/32",)),
        IngressRule("-1", 0, 65535, ("100.77.0.4/32", "100.77.0.5/32")),
        IngressRule("tcp", 8000, 8100, ("0.0.0.0/0",)),
    ]


def test_the_ruleset_lets_in_per_instance_what_its_groups_allow_and_drops_the_rest() -> None:
    text = NET.ruleset({"100.77.0.4": [IngressRule("tcp", 22, 22, ("100.77.0.1/32",))], "100.77.0.5": ALLOW_ALL})
    assert "ip daddr vmap { 100.77.0.4 : jump i_100_77_0_4, 100.77.0.5 : jump i_100_77_0_5 }" in text
    assert "  chain i_100_77_0_4 {\n    ip saddr { 100.77.0.1/32 } tcp dport 22 accept\n    drop\n  }" in text
    assert "  chain i_100_77_0_5 {\n    accept\n    drop\n  }" in text
    assert 'ip saddr 100.77.0.0/16 oifname != "gsb644d0000" masquerade' in text
    assert "tcp dport { 53, 80, 443 } accept" in text
    assert text.startswith("table inet goldsmith_644d0000 {}\ndelete table inet goldsmith_644d0000\n")  # atomic


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("nft") is None, reason="nft -c needs root and nftables")
def test_nft_accepts_the_ruleset() -> None:
    text = NET.ruleset({"100.77.0.4": [IngressRule("udp", 53, 53, ("10.0.0.0/8",)),
                                       IngressRule("icmp", -1, -1, ("0.0.0.0/0",))], "100.77.0.5": []})
    check = subprocess.run(["nft", "-c", "-f", "-"], input=text, capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr


def test_names_fit_the_kernels_limits_and_differ_per_instance() -> None:
    assert len(NET.bridge) <= 15 and len(NET.veth("i-0123456789abcdef0")) == 15
    assert NET.veth("i-0123456789abcdef0") != NET.veth("i-0123456789abcdef1")
    assert NET.host_address == "100.77.0.1" and NET.contains("100.77.200.9") and not NET.contains("100.78.0.1")


def test_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOLDSMITH_SANDBOX_NETWORK", raising=False)
    monkeypatch.delenv("GOLDSMITH_SANDBOX_OUTBOUND_PORTS", raising=False)
    assert pool() == ipaddress.IPv4Network("100.64.0.0/10") and outbound_ports() == (80, 443)
    monkeypatch.setenv("GOLDSMITH_SANDBOX_NETWORK", "10.250.0.0/15")
    monkeypatch.setenv("GOLDSMITH_SANDBOX_OUTBOUND_PORTS", "443 3142,80")
    assert pool() == ipaddress.IPv4Network("10.250.0.0/15") and outbound_ports() == (80, 443, 3142)
    monkeypatch.setenv("GOLDSMITH_SANDBOX_NETWORK", "100.64.0.1/10")
    with pytest.raises(EnvironmentProblem, match=re.escape("GOLDSMITH_SANDBOX_NETWORK='100.64.0.1/10' is not")):
        pool()
    monkeypatch.setenv("GOLDSMITH_SANDBOX_OUTBOUND_PORTS", "http")
    with pytest.raises(EnvironmentProblem, match="not a list of TCP ports"):
        outbound_ports()


def test_a_missing_kernel_feature_is_named_with_what_to_load(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[list[str]] = []

    def fake_run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        ran.append(cmd)
        failed = cmd[:3] == ["ip", "link", "add"] and "bridge" in cmd
        return subprocess.CompletedProcess(cmd, 2 if failed else 0, "", "Error: Unknown device type." if failed else "")

    monkeypatch.setattr("goldsmith.sandbox.network.subprocess.run", fake_run)
    with pytest.raises(EnvironmentProblem, match=r"the kernel lacks bridges \(CONFIG_BRIDGE; modprobe bridge\)"):
        probe()
    assert [c[:3] for c in ran[-4:]] == [["nft", "delete", "table"], ["ip", "link", "del"], ["ip", "link", "del"],
                                         ["ip", "netns", "del"]]  # what it made is removed


@pytest.mark.skipif(os.geteuid() != 0, reason="the probe makes a namespace and a bridge")
def test_the_probe_passes_here_and_leaves_nothing() -> None:
    before = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True, check=True).stdout
    probe()
    assert subprocess.run(["ip", "-br", "link"], capture_output=True, text=True, check=True).stdout.count("gsp") == \
        before.count("gsp")
    assert "goldsmith_probe" not in subprocess.run(["nft", "list", "tables"], capture_output=True, text=True,
                                                   check=True).stdout


def test_readiness_counts_only_listeners_in_the_instances_own_namespace(tmp_path: Path) -> None:
    """A launcher not yet in the instance's namespace sees the host's sockets: the host's sshd is not the guest's."""
    with socket.create_server(("127.0.0.1", 0)) as host_listener:
        port = host_listener.getsockname()[1]
        proc = subprocess.Popen(["sleep", "30"])
        try:
            other = tmp_path / "not-this-namespace"
            other.write_text("")
            assert not _wait_ready(proc, port, 0.3, other)
            assert _wait_ready(proc, port, 5.0, Path("/proc/self/ns/net"))  # sleep is in our namespace
        finally:
            proc.kill()
            proc.wait()


def test_instances_resolve_through_the_vpc_resolver_forwarded_to_the_hosts(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    etc, resolved = tmp_path / "resolv.conf", tmp_path / "resolved.conf"
    etc.write_text("# systemd-resolved's stub\nnameserver 127.0.0.53\noptions edns0\n")
    resolved.write_text("nameserver 2001:db8::53\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n")
    assert upstream_resolvers((etc, resolved)) == ["192.0.2.53", "192.0.2.54"]
    assert upstream_resolvers((tmp_path / "missing", etc)) == []
    monkeypatch.setattr("goldsmith.sandbox.network.upstream_resolvers", lambda: ["192.0.2.53"])
    assert NET.dns_address == "100.77.0.2"
    assert 'iifname "gsb644d0000" ip daddr 100.77.0.2 udp dport 53 dnat ip to 192.0.2.53' in NET.ruleset({})
    monkeypatch.setattr("goldsmith.sandbox.network.upstream_resolvers", lambda: [])
    assert "dnat" not in NET.ruleset({})


def test_unchanged_rules_do_not_rewrite_the_hosts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    applied: list[dict[str, object]] = []
    monkeypatch.setattr(SandboxNetwork, "apply_ingress", lambda self, rules: applied.append(dict(rules)))
    runtime = InstanceRuntime(tmp_path / "state", tmp_path, NET)
    rule = IngressRule("tcp", 22, 22, ("100.77.0.1/32",))
    runtime._instances["i-a"] = _Instance("i-a", tmp_path, "vol-a", {}, "100.77.0.4", (rule,), state="running")
    runtime.set_ingress({"i-a": [rule], "i-unknown": []})
    assert applied == []
    runtime.set_ingress({"i-a": []})
    assert applied == [{"100.77.0.4": ()}]


def test_a_daemon_from_before_the_sandbox_network_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = SandboxInfo(tmp_path, 4242, "http://127.0.0.1:1", 4243, "", "us-east-1", 0.0, Credentials("AKIAOLD", "s"))
    monkeypatch.setattr(manage, "status", lambda state_dir: old)
    with pytest.raises(EnvironmentProblem, match=r"pid 4242.*older Goldsmith.*`invoke sandbox.down`"):
        manage.up(tmp_path)


@pytest.mark.skipif(os.geteuid() != 0, reason="a sandbox network makes a bridge, namespaces and veth pairs")
def test_the_gateway_mac_stays_the_same_while_instances_come_and_go(tmp_path: Path) -> None:
    """A bridge left to choose takes its lowest port MAC, so each instance that came or went could change the
    gateway's MAC under the running ones (their connections stalled until their ARP entries expired)."""
    network = claim(tmp_path)
    bridge_mac = Path(f"/sys/class/net/{network.bridge}/address")
    try:
        assert bridge_mac.read_text().strip() == network.bridge_mac
        ids = [f"i-mac{i:012d}" for i in range(6)]
        for n, instance_id in enumerate(ids):
            network.attach(instance_id, str(network.cidr.network_address + 10 + n))
            assert bridge_mac.read_text().strip() == network.bridge_mac
        for instance_id in ids:
            network.detach(instance_id)
            assert bridge_mac.read_text().strip() == network.bridge_mac
    finally:
        release(tmp_path)
