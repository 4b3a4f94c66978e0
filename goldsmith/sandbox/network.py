"""The sandbox's network on the host: a bridge per sandbox, a network namespace per instance, nftables.

A sandbox claims one /16 of the pool (GOLDSMITH_SANDBOX_NETWORK, default 100.64.0.0/10, the shared address
space that no common LAN uses), one that no route of this host overlaps, and records it in
STATE_DIR/network.json before it changes anything, so `sandbox.down` undoes it even after a SIGKILL. That
/16 is the default VPC of every region (moto allocates the instances' addresses in its subnets, AWS's first
four addresses of each reserved); the host holds its first address (the VPC router's) on the bridge
gsb<hex of the network>. An instance is a network namespace gs<hex>-<instance id> joined to the bridge by a
veth pair (eth0 inside, its address as a /32 with the host as default gateway, so every packet an instance
sends, to the host, the internet or another instance, goes through the host's routing and filters).
The nftables table inet goldsmith_<hex> holds everything else: the security groups' ingress rules per
instance address (stateful, as AWS's; whatever no rule allows is dropped, as AWS does), no ICMP redirects
on the bridge, and the way out: an instance reaches its peers, the host, DNS and the TCP ports of
GOLDSMITH_SANDBOX_OUTBOUND_PORTS (default 80 and 443: apt, pip, curl) elsewhere, masqueraded as container
runtimes do, and the VPC's resolver at the network's base + 2 (as on AWS), forwarded to the host's;
nothing else leaves this machine, and other sandboxes' networks are out of reach. IPv4 forwarding is
switched on while a sandbox runs and restored by the last one to go. Names are unique per sandbox, so
concurrent sandboxes never touch each other's bridge, namespaces or rules.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from goldsmith.errors import EnvironmentProblem

POOL_ENV = "GOLDSMITH_SANDBOX_NETWORK"
DEFAULT_POOL = "100.64.0.0/10"
OUTBOUND_ENV = "GOLDSMITH_SANDBOX_OUTBOUND_PORTS"
DEFAULT_OUTBOUND = "80,443"  # apt, pip, curl; DNS (53) is always allowed
SANDBOX_PREFIX = 16  # one default VPC: moto carves its /20 default subnets from it
NETWORK_FILE = "network.json"
NETNS_DIR = Path("/run/netns")
_HOST_LOCK = Path("/run/goldsmith-network.lock")  # one claim at a time on this host
_FORWARD_SAVED = Path("/run/goldsmith-ip-forward")  # ip_forward's value before the first sandbox changed it
_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
RESOLV_CONFS = (Path("/etc/resolv.conf"), Path("/run/systemd/resolve/resolv.conf"))
# command -> Debian package that provides it
COMMANDS = {"ip": "iproute2", "nft": "nftables", "nsenter": "util-linux"}


@dataclass(frozen=True)
class IngressRule:
    """One allowed inbound flow: protocol (tcp, udp, icmp or -1 for all), a port range, from these sources."""

    protocol: str
    from_port: int
    to_port: int
    sources: tuple[str, ...]  # IPv4 CIDRs


ALLOW_ALL = (IngressRule("-1", 0, 65535, ("0.0.0.0/0",)),)  # an instance started without security groups


@dataclass(frozen=True)
class SandboxNetwork:
    """One sandbox's network: its /16, and the names of what it made on the host."""

    cidr: ipaddress.IPv4Network

    @property
    def tag(self) -> str:
        return f"{int(self.cidr.network_address):08x}"

    @property
    def bridge(self) -> str:
        return f"gsb{self.tag}"

    @property
    def table(self) -> str:
        return f"goldsmith_{self.tag}"

    @property
    def bridge_mac(self) -> str:
        """The bridge's own MAC, set once: a bridge left to choose takes its ports' lowest MAC and changes it as
        instances come and go, and every running instance then sent to a gateway MAC no longer answered, its
        connections stalling until its ARP entry expired (13-56 s with ten bakes at once). AWS's VPC router
        keeps its MAC; so does ours (locally administered, unique per sandbox network)."""
        tag = self.tag
        return "02:67:" + ":".join(tag[i:i + 2] for i in range(0, 8, 2))

    @property
    def host_address(self) -> str:
        """The host's address on the bridge: the source instances see (the builder's /32) and their gateway."""
        return str(self.cidr.network_address + 1)

    @property
    def dns_address(self) -> str:
        """The VPC's resolver, as on AWS at the network's base + 2: DNS sent there goes to the host's resolvers."""
        return str(self.cidr.network_address + 2)

    def netns(self, instance_id: str) -> str:
        return f"gs{self.tag}-{instance_id}"

    def netns_path(self, instance_id: str) -> Path:
        return NETNS_DIR / self.netns(instance_id)

    def veth(self, instance_id: str) -> str:
        """The host end of an instance's veth pair (15 characters at most, unique on this host)."""
        return "gv" + hashlib.sha1(f"{self.tag}/{instance_id}".encode()).hexdigest()[:13]

    def contains(self, address: str) -> bool:
        return ipaddress.ip_address(address) in self.cidr

    # -- instances ---------------------------------------------------------------------------------------

    def attach(self, instance_id: str, address: str) -> None:
        """Make the instance's namespace with eth0 at `address` on the bridge (it persists across reboots)."""
        if not self.contains(address) or address == self.host_address:
            raise EnvironmentProblem(f"instance {instance_id} got the address {address}, outside the sandbox "
                                     f"network {self.cidr}: the sandbox runs instances only in subnets of that "
                                     "network (every region's default VPC); launch into one of them")
        self.detach(instance_id)
        name, veth = self.netns(instance_id), self.veth(instance_id)
        try:
            _run(["ip", "-batch", "-"], f"netns add {name}\nlink add {veth} type veth peer name eth0 netns {name}\n"
                                        f"link set {veth} master {self.bridge} up\n")
            _run(["ip", "-n", name, "-batch", "-"],
                 f"link set lo up\naddr add {address}/32 dev eth0\nlink set eth0 up\n"
                 f"route add default via {self.host_address} dev eth0 onlink\n")
        except BaseException:
            self.detach(instance_id)
            raise

    def detach(self, instance_id: str) -> None:
        """Remove the instance's namespace and veth pair; nothing to remove is fine."""
        if self.netns_path(instance_id).exists():
            _run(["ip", "netns", "del", self.netns(instance_id)], check=False)
        if Path(f"/sys/class/net/{self.veth(instance_id)}").exists():
            _run(["ip", "link", "del", self.veth(instance_id)], check=False)

    def apply_ingress(self, rules: Mapping[str, Sequence[IngressRule]]) -> None:
        """Replace the sandbox's nftables table: `rules` per instance address, in one atomic transaction."""
        _run(["nft", "-f", "-"], self.ruleset(rules))

    def ruleset(self, rules: Mapping[str, Sequence[IngressRule]]) -> str:
        """The whole table as nft reads it: a chain per instance, a verdict map from address to chain.

        Inbound to an instance (from the host or another instance): what its groups allow, else dropped.
        Outbound from an instance to anything but this network and the host: DNS and the TCP ports of
        outbound_ports() (package access), masqueraded; anything else is rejected at once.
        """
        br, net = self.bridge, self.cidr
        chains, verdicts = [], []
        for address in sorted(rules, key=ipaddress.ip_address):
            chain = "i_" + address.replace(".", "_")
            body = "".join(f"    {line}\n" for rule in rules[address] for line in _rule_lines(rule))
            chains.append(f"  chain {chain} {{\n{body}    drop\n  }}\n")
            verdicts.append(f"{address} : jump {chain}")
        vmap = f"    ip daddr vmap {{ {', '.join(verdicts)} }}\n" if verdicts else ""
        ports = ", ".join(str(p) for p in outbound_ports())
        return (
            f"table inet {self.table} {{}}\ndelete table inet {self.table}\n"
            f"table inet {self.table} {{\n"
            f"  chain ingress {{\n    ct state established,related accept\n    ct state invalid drop\n"
            f"{vmap}    drop\n  }}\n"
            + "".join(chains)
            + f"  chain outbound {{\n    ct state established,related accept\n    ip saddr != {net} drop\n"
            f"    oifname \"gsb*\" drop\n    udp dport 53 accept\n    tcp dport {{ 53, {ports} }} accept\n"
            f"    reject with icmpx type admin-prohibited\n  }}\n"
            f"  chain output {{\n    type filter hook output priority 0; policy accept;\n"
            f"    oifname \"{br}\" icmp type redirect drop\n    oifname \"{br}\" ip daddr {net} jump ingress\n  }}\n"
            f"  chain forward {{\n    type filter hook forward priority 0; policy accept;\n"
            f"    oifname \"{br}\" ip daddr {net} jump ingress\n    iifname \"{br}\" jump outbound\n  }}\n"
            f"  chain postrouting {{\n    type nat hook postrouting priority 100; policy accept;\n"
            f"    ip saddr {net} oifname != \"{br}\" masquerade\n  }}\n"
            + self._resolver_chain()
            + "}\n"
        )

    def _resolver_chain(self) -> str:
        """DNAT of DNS sent to dns_address to the host's first upstream resolver (none known: no chain)."""
        resolvers = upstream_resolvers()
        if not resolvers:
            return ""
        to = f"ip daddr {self.dns_address}"
        return (f"  chain prerouting {{\n    type nat hook prerouting priority -100; policy accept;\n"
                f"    iifname \"{self.bridge}\" {to} udp dport 53 dnat ip to {resolvers[0]}\n"
                f"    iifname \"{self.bridge}\" {to} tcp dport 53 dnat ip to {resolvers[0]}\n  }}\n")


def _rule_lines(rule: IngressRule) -> list[str]:
    sources = [s for s in rule.sources if ipaddress.ip_network(s, strict=False).version == 4]
    if not sources:
        return []
    match = "" if "0.0.0.0/0" in sources else f"ip saddr {{ {', '.join(sources)} }} "
    if rule.protocol in ("tcp", "udp"):
        low, high = max(rule.from_port, 0), min(rule.to_port if rule.to_port >= 0 else 65535, 65535)
        ports = str(low) if low == high else f"{low}-{high}"
        return [f"{match}{rule.protocol} dport {ports} accept"]
    if rule.protocol == "icmp":
        return [f"{match}ip protocol icmp accept"]
    if rule.protocol == "-1":
        return [f"{match}accept"]
    return []  # other protocols (ICMPv6, GRE...): nothing an AMI bake uses


# -- the sandbox's claim on the host -----------------------------------------------------------------------


def probe() -> None:
    """Make and remove a throwaway namespace, bridge, veth pair and nftables table (filter, reject, NAT): what
    the sandbox network needs of the kernel. Raise EnvironmentProblem naming the missing feature."""
    tag = f"{os.getpid() & 0xFFFFFF:06x}"
    ns, bridge, veth, table = f"gsprobe{tag}", f"gsp{tag}", f"gpv{tag}", f"goldsmith_probe_{tag}"
    rules = (f"table inet {table} {{\n  chain f {{ type filter hook forward priority 0; policy accept;\n"
             f"    iifname \"{bridge}\" ct state new reject with icmpx type admin-prohibited\n  }}\n"
             f"  chain n {{ type nat hook postrouting priority 100; policy accept;\n"
             f"    ip saddr 100.64.0.0/10 oifname != \"{bridge}\" masquerade\n  }}\n}}\n")
    steps: list[tuple[list[str], str | None, str]] = [
        (["ip", "netns", "add", ns], None, "network namespaces (CONFIG_NET_NS)"),
        (["ip", "link", "add", bridge, "type", "bridge"], None, "bridges (CONFIG_BRIDGE; modprobe bridge)"),
        (["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns], None,
         "veth pairs (CONFIG_VETH; modprobe veth)"),
        (["nft", "-f", "-"], rules, "nftables with NAT and reject (CONFIG_NF_TABLES, CONFIG_NFT_MASQ, CONFIG_NFT_CT, "
                                    "CONFIG_NFT_REJECT_INET; modprobe nf_tables nft_masq nft_reject_inet)"),
    ]
    try:
        for cmd, stdin, feature in steps:
            result = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise EnvironmentProblem(f"the kernel lacks {feature}, which the sandbox network needs: "
                                         f"`{' '.join(cmd)}` failed: {result.stderr.strip()}")
        if not os.access(_FORWARD, os.W_OK):
            raise EnvironmentProblem(f"{_FORWARD} is not writable here (a read-only /proc/sys?): the sandbox "
                                     "network needs IPv4 forwarding for its instances' outbound access")
    finally:
        for cmd in (["nft", "delete", "table", "inet", table], ["ip", "link", "del", veth],
                    ["ip", "link", "del", bridge], ["ip", "netns", "del", ns]):
            subprocess.run(cmd, capture_output=True, check=False)


def check_tools() -> list[str]:
    """The Debian packages to install for the commands the network needs."""
    return sorted({pkg for cmd, pkg in COMMANDS.items() if shutil.which(cmd) is None})


def upstream_resolvers(paths: Sequence[Path] = RESOLV_CONFS) -> list[str]:
    """The host's IPv4 name servers an instance can reach: /etc/resolv.conf's, or systemd-resolved's uplinks
    when that names only its local stub (127.0.0.53 is the host's loopback, out of an instance's reach)."""
    for path in paths:
        try:
            lines = path.read_text().splitlines()
        except OSError:
            continue
        found = []
        for line in lines:
            fields = line.split()
            if len(fields) >= 2 and fields[0] == "nameserver":
                with contextlib.suppress(ValueError):
                    address = ipaddress.ip_address(fields[1])
                    if address.version == 4 and not address.is_loopback:
                        found.append(str(address))
        if found:
            return found
    return []


def outbound_ports() -> tuple[int, ...]:
    """TCP ports instances may reach beyond this host (besides DNS): HTTP and HTTPS unless configured."""
    text = os.environ.get(OUTBOUND_ENV, DEFAULT_OUTBOUND)
    try:
        ports = tuple(sorted({int(p) for p in text.replace(",", " ").split()}))
    except ValueError:
        ports = ()
    if not ports or not all(0 < p < 65536 for p in ports):
        raise EnvironmentProblem(f"{OUTBOUND_ENV}={text!r} is not a list of TCP ports such as {DEFAULT_OUTBOUND!r}")
    return ports


def pool() -> ipaddress.IPv4Network:
    text = os.environ.get(POOL_ENV, DEFAULT_POOL)
    try:
        network = ipaddress.IPv4Network(text)
    except ValueError as exc:
        raise EnvironmentProblem(f"{POOL_ENV}={text!r} is not an IPv4 network such as {DEFAULT_POOL}: {exc}") from None
    if network.prefixlen > 28:
        raise EnvironmentProblem(f"{POOL_ENV}={text} is too small for a sandbox network (at most /28)")
    return network


def claim(state_dir: Path) -> SandboxNetwork:
    """Take a free /16 of the pool for this sandbox (its old one if still free), make its bridge and rules."""
    state_dir = state_dir.resolve()
    with _host_lock():
        recorded = _recorded(state_dir)
        if recorded is not None:  # a daemon killed before it released: its leftovers go first
            _teardown(state_dir, recorded)
        taken = _routed_networks()
        network = recorded if recorded is not None and not _overlaps(recorded.cidr, taken) else None
        network = network or _choose(state_dir, taken)
        _write_record(state_dir, network)  # first: a crash from here on is undone by release()
        _run(["ip", "link", "add", network.bridge, "address", network.bridge_mac, "type", "bridge"])
        _run(["ip", "-batch", "-"], f"addr add {network.host_address}/{network.cidr.prefixlen} dev {network.bridge}\n"
                                    f"link set {network.bridge} up\n")
        network.apply_ingress({})
        _enable_forwarding()
    return network


def release(state_dir: Path) -> None:
    """Undo claim() and every instance's namespace: after a clean stop or a SIGKILL of the daemon."""
    state_dir = state_dir.resolve()
    with _host_lock():
        network = _recorded(state_dir)
        if network is not None:
            _teardown(state_dir, network)
            _restore_forwarding()


def _teardown(state_dir: Path, network: SandboxNetwork) -> None:
    """Remove the network's namespaces, veths, bridge and table, then its record (the caller holds the lock)."""
    for entry in NETNS_DIR.glob(f"gs{network.tag}-*") if NETNS_DIR.exists() else []:
        _run(["ip", "netns", "del", entry.name], check=False)
    for veth in _bridge_ports(network.bridge):
        _run(["ip", "link", "del", veth], check=False)
    if Path(f"/sys/class/net/{network.bridge}").exists():
        _run(["ip", "link", "del", network.bridge], check=False)
    _run(["nft", "delete", "table", "inet", network.table], check=False)
    (state_dir / NETWORK_FILE).unlink(missing_ok=True)


def _choose(state_dir: Path, taken: list[ipaddress.IPv4Network]) -> SandboxNetwork:
    whole = pool()
    prefix = max(SANDBOX_PREFIX, whole.prefixlen)
    candidates = list(whole.subnets(new_prefix=prefix))
    start = int(hashlib.sha1(str(state_dir).encode()).hexdigest(), 16) % len(candidates)
    for cidr in candidates[start:] + candidates[:start]:
        network = SandboxNetwork(cidr)
        if not _overlaps(cidr, taken) and not Path(f"/sys/class/net/{network.bridge}").exists():
            return network
    raise EnvironmentProblem(f"no free /{prefix} left in the sandbox network pool {whole} (every one overlaps a "
                             f"route of this host); set {POOL_ENV} to another range")


def _overlaps(cidr: ipaddress.IPv4Network, taken: list[ipaddress.IPv4Network]) -> bool:
    return any(cidr.overlaps(other) for other in taken)


def _routed_networks() -> list[ipaddress.IPv4Network]:
    """Every IPv4 destination this host routes somewhere (all tables), but the default route."""
    out = _run(["ip", "-4", "-j", "route", "show", "table", "all"])
    found = []
    for route in json.loads(out or "[]"):
        dst = route.get("dst", "default")
        if dst != "default":
            with contextlib.suppress(ValueError):
                found.append(ipaddress.IPv4Network(dst, strict=False))
    return found


def _bridge_ports(bridge: str) -> list[str]:
    directory = Path(f"/sys/class/net/{bridge}/brif")
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def _recorded(state_dir: Path) -> SandboxNetwork | None:
    try:
        return SandboxNetwork(ipaddress.IPv4Network(json.loads((state_dir / NETWORK_FILE).read_text())["cidr"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_record(state_dir: Path, network: SandboxNetwork) -> None:
    path = state_dir / NETWORK_FILE
    temp = path.with_suffix(".tmp")
    temp.write_text(json.dumps({"cidr": str(network.cidr), "bridge": network.bridge, "table": network.table}) + "\n")
    os.chmod(temp, 0o600)
    os.replace(temp, path)


@contextlib.contextmanager
def _host_lock() -> Iterator[None]:
    with open(_HOST_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _enable_forwarding() -> None:
    if _FORWARD.read_text().strip() != "1":
        if not _FORWARD_SAVED.exists():
            _FORWARD_SAVED.write_text(_FORWARD.read_text())
        _FORWARD.write_text("1\n")


def _restore_forwarding() -> None:
    """The last sandbox network to go puts ip_forward back as it found it."""
    if not _FORWARD_SAVED.exists() or any(NETNS_DIR.glob("gs*-*")) or _other_bridges():
        return
    _FORWARD.write_text(_FORWARD_SAVED.read_text())
    _FORWARD_SAVED.unlink()


def _other_bridges() -> bool:
    return any(p.name.startswith("gsb") and (p / "bridge").exists() for p in Path("/sys/class/net").iterdir())


def _run(cmd: list[str], stdin: str | None = None, check: bool = True) -> str:
    result = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise EnvironmentProblem(f"the sandbox network could not be set up: `{' '.join(cmd)}` failed "
                                 f"({result.returncode}): {result.stderr.strip()}")
    return result.stdout
