"""The sandbox's instance runtime: real Linux machines that boot their image's own systemd.

An instance is its root volume (overlayfs) booted by systemd-nspawn (goldsmith.sandbox.nspawn: the
image's /sbin/init as PID 1 in its own pid/mount/uts/ipc namespaces, the containment, what cloud-init
does on EC2) inside a network namespace of its own (goldsmith.sandbox.network: its address on the
sandbox's bridge, its security groups' ingress rules enforced by the host); the image's sshd listens
on port 22 there. Data volumes appear as directories at their device names (/dev/sdf and /dev/xvdf),
which Goldsmith bind-mounts through fstab (systemd mounts them at boot). One supervisor thread per
running instance starts it, starts it again when the guest rebooted (nspawn exits with REBOOT_EXIT),
and unmounts its volumes once it is down. Stop is systemd's clean poweroff. Everything lives under
`state_dir` and is gone after shutdown().
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from goldsmith.errors import EnvironmentProblem
from goldsmith.sandbox import cgroups, nspawn, sockdiag
from goldsmith.sandbox import network as net
from goldsmith.sandbox.image import DEFAULT_USER
from goldsmith.sandbox.volumes import VolumeStore, mounts_under, tree_bytes, unmount_path

log = logging.getLogger(__name__)
REBOOT_EXIT = nspawn.REBOOT_EXIT
BOOT_TIMEOUT = 60.0
STOP_GRACE = 10.0
KILL_GRACE = 30.0  # after SIGKILL: the kernel tears the pid namespace down, then _finish unmounts
BUSY_TIMEOUT = 600.0  # a live snapshot copy of a large volume
SSH_PORT = 22
FIRST_ADDRESS = 4  # AWS reserves a subnet's first four addresses (network, router, DNS, future use)


@dataclass(frozen=True)
class Endpoint:
    """Where an instance's sshd listens."""

    host: str
    port: int


@dataclass
class InstanceInfo:
    """What the gateway needs to know about one instance."""

    instance_id: str
    state: str
    endpoint: Endpoint | None
    root_volume: str
    volumes: dict[str, str]
    pid: int | None


@dataclass
class _Instance:
    """Runtime bookkeeping of one instance; guarded by the runtime's lock."""

    instance_id: str
    directory: Path
    root_volume: str
    data_volumes: dict[str, str]
    address: str
    ingress: tuple[net.IngressRule, ...] = net.ALLOW_ALL
    state: str = "stopped"
    proc: subprocess.Popen[bytes] | None = None
    stopping: bool = False
    boots: int = 0  # boots that reached "sshd accepts connections" since the last start
    failure: str = ""
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def console(self) -> Path:
        return self.directory / "console.log"


class InstanceRuntime:
    """Starts, stops, reboots and snapshots sandbox instances; safe to call from many threads."""

    def __init__(self, state_dir: Path, base_rootfs: Path, network: net.SandboxNetwork | None = None) -> None:
        """With `network` (claimed by the caller for this state_dir), use it; else claim one. shutdown() and
        cleanup_stale() release it."""
        nspawn.prepare_host()
        self._state = state_dir.resolve()
        self._state.mkdir(parents=True, exist_ok=True)
        (self._state / "instances").mkdir(exist_ok=True)
        self.network = network or net.claim(self._state)
        self._store = VolumeStore(self._state / "store", base_rootfs)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._instances: dict[str, _Instance] = {}
        self._busy: set[str] = set()  # volumes whose upper is being copied, outside the lock
        self._closed = False  # set by shutdown(): calls that would mount or create something refuse
        self._base_bytes: int | None = None

    # -- volumes and snapshots -------------------------------------------------------------

    def register_base_snapshot(self, snapshot_id: str) -> None:
        """Make this snapshot id's content the base image (the base AMI's root snapshot)."""
        with self._lock:
            self._store.register_base_snapshot(snapshot_id)

    def create_volume(self, volume_id: str, snapshot_id: str | None) -> None:
        """Create a volume from a snapshot (its whole layer chain) or empty."""
        with self._lock:
            self._refuse_if_closed()
            self._store.create_volume(volume_id, snapshot_id)

    def delete_volume(self, volume_id: str) -> None:
        """Delete a volume that no running instance uses."""
        with self._lock:
            self._wait_idle(volume_id)
            self._store.delete_volume(volume_id)

    def snapshot_volume(self, volume_id: str, snapshot_id: str) -> int:
        """Capture the volume's content now, incrementally; return the bytes newly stored.

        A mounted volume's upper is copied without the lock (it can take long), the volume marked busy
        meanwhile so that nobody deletes or moves it; everything else goes on in parallel.
        """
        with self._lock:
            self._refuse_if_closed()
            self._wait_idle(volume_id)
            layer = self._store.begin_snapshot(volume_id, snapshot_id)
            if layer is None:
                return self._store.snapshot_stopped(volume_id, snapshot_id)
            self._busy.add(volume_id)
        try:
            partial = self._store.copy_live_upper(volume_id, layer)
            with self._lock:
                return self._store.finish_live_snapshot(volume_id, snapshot_id, layer, partial)
        finally:
            with self._lock:
                self._busy.discard(volume_id)
                self._changed.notify_all()

    def copy_snapshot(self, source_snapshot_id: str, new_snapshot_id: str) -> None:
        """CopySnapshot/CopyImage: a new snapshot id sharing the source's layers."""
        with self._lock:
            self._store.copy_snapshot(source_snapshot_id, new_snapshot_id)

    def delete_snapshot(self, snapshot_id: str) -> None:
        """Delete a snapshot; volumes made from it keep working."""
        with self._lock:
            self._store.delete_snapshot(snapshot_id)

    def snapshot_size(self, snapshot_id: str) -> int:
        """Bytes stored in this snapshot's own layer."""
        with self._lock:
            return self._store.snapshot_size(snapshot_id)

    def base_bytes(self) -> int:
        """The base image's size in bytes (the data of the base AMI's root snapshot), measured once."""
        if self._base_bytes is None:
            self._base_bytes = tree_bytes(self._store.base_rootfs)
        return self._base_bytes

    @property
    def state_dir(self) -> Path:
        """Where this runtime keeps its mounts, layers and logs."""
        return self._state

    def volume_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._store.volumes)

    def snapshot_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._store.snapshots)

    # -- instances -------------------------------------------------------------------------

    def start_instance(
        self,
        instance_id: str,
        root_volume: str,
        data_volumes: dict[str, str],
        *,
        user: str = DEFAULT_USER,
        authorized_key: str | None = None,
        address: str | None = None,
        ingress: tuple[net.IngressRule, ...] | list[net.IngressRule] | None = None,
    ) -> Endpoint:
        """Boot an instance from its volumes at `address` (default: its last one, or a free one), reachable
        as `ingress` allows (default: from anywhere); return once its sshd accepts TCP connections."""
        with self._lock:
            self._refuse_if_closed()
            inst = self._prepare(instance_id, root_volume, data_volumes, user, authorized_key, address)
            inst.ingress = net.ALLOW_ALL if ingress is None else tuple(ingress)
            try:
                self.network.attach(instance_id, inst.address)
                self._apply_ingress()
            except BaseException:
                self._finish(inst)
                raise
            inst.thread = threading.Thread(
                target=self._supervise, args=(inst,), name=f"sandbox-{instance_id}", daemon=True
            )
            try:
                inst.thread.start()
            except RuntimeError as exc:  # "can't start new thread": nothing runs, so unmount here
                inst.failure = f"the sandbox could not start its supervisor thread ({exc})"
                self._finish(inst)
            self._changed.wait_for(lambda: inst.boots > 0 or inst.state == "stopped", BOOT_TIMEOUT)
            if inst.boots > 0:
                return Endpoint(inst.address, SSH_PORT)
            failure = inst.failure or "it did not accept SSH connections in time"
            if self._closed:
                failure = "the sandbox is shutting down"
        self.stop_instance(instance_id)
        raise EnvironmentProblem(f"sandbox instance {instance_id} failed to boot: {failure}")

    def stop_instance(self, instance_id: str) -> None:
        """Halt the instance; return once its processes are gone and its volumes synced and unmounted."""
        with self._lock:
            inst = self._instance(instance_id)
            if inst.state == "stopped":
                return
            inst.stopping = True
            self._signal_launcher_child(inst, signal.SIGTERM)  # nspawn: poweroff through the guest's systemd
            if self._changed.wait_for(lambda: inst.state == "stopped", STOP_GRACE):
                return
            deadline = time.monotonic() + KILL_GRACE
            while inst.state != "stopped":  # init ignored SIGTERM (or was not started yet)
                if inst.thread is None or not inst.thread.is_alive():
                    self._finish(inst)  # nothing supervises it any more (cannot happen, but never hang)
                    return
                if time.monotonic() > deadline:
                    raise EnvironmentProblem(
                        f"sandbox instance {instance_id} did not stop within {STOP_GRACE + KILL_GRACE:.0f} s "
                        f"even after SIGKILL; see {inst.console} and `ps` for its processes"
                    )
                self._signal_launcher_child(inst, signal.SIGKILL)  # nspawn, and with it the whole instance
                if inst.proc is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(inst.proc.pid, signal.SIGKILL)  # --kill-child takes init down too
                self._changed.wait_for(lambda: inst.state == "stopped", 1.0)

    def reboot_instance(self, instance_id: str) -> None:
        """Reboot like EC2 RebootInstances: same volumes and endpoint, fresh /run and /tmp."""
        with self._lock:
            inst = self._instance(instance_id)
            if inst.state != "running":
                raise ValueError(f"instance {instance_id} is not running, so it cannot be rebooted")
            before = inst.boots
            self._signal_guest_init(inst, nspawn.REBOOT_SIGNAL)
            self._changed.wait_for(lambda: inst.boots > before or inst.state == "stopped", BOOT_TIMEOUT)

    def terminate_instance(self, instance_id: str) -> None:
        """Stop the instance and forget it; its volumes are deleted by the caller. Unknown ids are a no-op."""
        with self._lock:
            if instance_id not in self._instances:
                return  # never started here, or already terminated (TerminateInstances is idempotent)
        self.stop_instance(instance_id)
        with self._lock:
            inst = self._instances.pop(instance_id, None)
            if inst is not None:
                shutil.rmtree(inst.directory, ignore_errors=True)

    def endpoint(self, instance_id: str) -> Endpoint | None:
        with self._lock:
            inst = self._instances.get(instance_id)
            if inst is None or inst.state != "running":
                return None
            return Endpoint(inst.address, SSH_PORT)

    def set_ingress(self, rules: dict[str, list[net.IngressRule]]) -> None:
        """Replace the ingress rules of these instances (their security groups changed); unknown ids are ignored.
        The host's rules are rewritten only if some running instance's rules did change."""
        with self._lock:
            changed = False
            for instance_id, allowed in rules.items():
                inst = self._instances.get(instance_id)
                if inst is not None and inst.ingress != tuple(allowed):
                    inst.ingress = tuple(allowed)
                    changed = changed or inst.state != "stopped"
            if changed:
                self._apply_ingress()

    def instances(self) -> list[InstanceInfo]:
        with self._lock:
            return [self._info(inst) for inst in self._instances.values()]

    def console_output(self, instance_id: str) -> str:
        """The instance's console (systemd's boot and shutdown messages, the host keys), like GetConsoleOutput."""
        with self._lock:
            path = self._instance(instance_id).console
        return path.read_text(errors="replace") if path.exists() else ""

    def shutdown(self) -> None:
        """Stop every instance and remove everything under state_dir (the base image stays).

        From its start, calls that would create a volume or boot an instance refuse, so a request
        still in flight cannot mount something after the mounts were listed.
        """
        with self._lock:
            self._closed = True
            self._changed.wait_for(lambda: not self._busy, BUSY_TIMEOUT)
            ids = list(self._instances)
        for instance_id in ids:
            self.terminate_instance(instance_id)
        with self._lock:
            for volume in self._store.volumes.values():
                volume.mountpoint = None
            _remove_state(self._state)
            net.release(self._state)

    # -- internals -------------------------------------------------------------------------

    def _refuse_if_closed(self) -> None:
        if self._closed:
            raise EnvironmentProblem("the sandbox is shutting down; start it again with `invoke sandbox.up`")

    def _wait_idle(self, volume_id: str) -> None:
        """Wait (the caller holds the lock) until no snapshot is copying this volume."""
        if not self._changed.wait_for(lambda: volume_id not in self._busy, BUSY_TIMEOUT):
            raise EnvironmentProblem(f"volume {volume_id} is still being snapshotted after {BUSY_TIMEOUT:.0f} s")

    def _instance(self, instance_id: str) -> _Instance:
        try:
            return self._instances[instance_id]
        except KeyError:
            raise ValueError(f"instance {instance_id} does not exist in the sandbox") from None

    def _info(self, inst: _Instance) -> InstanceInfo:
        return InstanceInfo(
            instance_id=inst.instance_id,
            state="stopped" if inst.state == "stopped" else "running",  # "pending" is still booting
            endpoint=Endpoint(inst.address, SSH_PORT) if inst.state == "running" else None,
            root_volume=inst.root_volume,
            volumes=dict(inst.data_volumes),
            pid=inst.proc.pid if inst.proc is not None else None,
        )

    def _prepare(self, instance_id: str, root: str, data: dict[str, str], user: str, key: str | None,
                 address: str | None) -> _Instance:
        """Mount the volumes and write the instance's metadata; the caller holds the lock."""
        inst = self._instances.get(instance_id)
        if inst is not None and inst.state != "stopped":
            raise ValueError(f"instance {instance_id} is already running")
        for device in data:
            if not device.startswith("/dev/") or ".." in device or device.count("/") != 2:
                raise ValueError(f"device name {device!r} must look like /dev/sdf")
        address = address or (inst.address if inst is not None else self._free_address())
        if any(i.address == address and i.state != "stopped" for i in self._instances.values()):
            raise ValueError(f"address {address} is already used by another instance")
        directory = self._state / "instances" / instance_id
        inst = _Instance(instance_id, directory, root, dict(data), address)
        meta = directory / "meta"
        meta.mkdir(parents=True, exist_ok=True)
        mounted: list[str] = []
        try:
            for volume_id, target in [(root, directory / "root")] + [
                (vol, directory / "disks" / dev.rsplit("/", 1)[1]) for dev, vol in data.items()
            ]:
                self._store.mount(volume_id, target)
                mounted.append(volume_id)
        except BaseException:
            for volume_id in mounted:
                self._store.unmount(volume_id)
            raise
        nspawn.write_meta(meta, instance_id, user, authorized_key_line(key) if key else "",
                          self.network.dns_address if net.upstream_resolvers() else None)
        inst.state = "pending"
        self._instances[instance_id] = inst
        return inst

    def _free_address(self) -> str:
        """An instance address of the network no instance of this runtime holds (when the caller gives none)."""
        taken = {i.address for i in self._instances.values()}
        for host in self.network.cidr.hosts():
            if int(host) - int(self.network.cidr.network_address) >= FIRST_ADDRESS and str(host) not in taken:
                return str(host)
        raise EnvironmentProblem(f"no free address left in the sandbox network {self.network.cidr}")

    def _apply_ingress(self) -> None:
        """Write the rules of every instance that has a network namespace (the caller holds the lock)."""
        self.network.apply_ingress({i.address: i.ingress for i in self._instances.values() if i.state != "stopped"})

    def _launch_command(self, inst: _Instance) -> list[str]:
        disks = {dev: inst.directory / "disks" / dev.rsplit("/", 1)[1] for dev in inst.data_volumes}
        return nspawn.boot_command(nspawn.BootSpec(
            inst.instance_id, inst.directory / "root", inst.directory / "meta",
            self.network.netns_path(inst.instance_id), disks, cgroups.instance_groups(self._state, inst.instance_id),
        ))  # fmt: skip

    def _supervise(self, inst: _Instance) -> None:
        """Run the instance until it halts: boot, restart on guest reboot, then unmount its volumes.

        The instance's processes are started from this thread because --pdeathsig follows the
        thread that forked them, and this thread lives exactly as long as the instance.
        """
        try:
            self._run(inst)
        except Exception as exc:  # e.g. Popen failing with EAGAIN: record why, kill what runs, unmount
            log.exception("supervising sandbox instance %s failed", inst.instance_id)
            with self._lock:
                inst.failure = f"the sandbox could not run it: {exc}"
            _kill_launcher(inst.proc)
        finally:
            self._finish(inst)

    def _run(self, inst: _Instance) -> None:
        """Boot the instance, and boot it again after each guest reboot, until it halts."""
        attempts = 0
        while True:
            with self._lock:
                if inst.stopping:
                    return
                proc = self._spawn(inst)
            ready = _wait_ready(proc, SSH_PORT, BOOT_TIMEOUT, self.network.netns_path(inst.instance_id))
            with self._lock:
                if ready:
                    inst.state, inst.boots, attempts = "running", inst.boots + 1, 0
                    self._changed.notify_all()
            code = proc.wait()
            with self._lock:
                inst.proc = None
                if inst.stopping or not self._should_restart(inst, code, ready, attempts):
                    return
                attempts += 1

    def _spawn(self, inst: _Instance) -> subprocess.Popen[bytes]:
        with inst.console.open("ab") as console:
            inst.proc = subprocess.Popen(
                self._launch_command(inst), stdin=subprocess.DEVNULL, stdout=console, stderr=console,
                start_new_session=True,
            )  # fmt: skip
        return inst.proc

    def _should_restart(self, inst: _Instance, code: int, ready: bool, attempts: int) -> bool:
        """Restart after a guest reboot."""
        if ready:
            return code == REBOOT_EXIT
        tail = inst.console.read_text(errors="replace")[-2000:] if inst.console.exists() else ""
        inst.failure = f"its init exited with status {code}; console log: {inst.console}\n{tail[-600:]}"
        return False

    def _finish(self, inst: _Instance) -> None:
        """Sync and unmount the instance's volumes, remove its network namespace, then mark it stopped."""
        os.sync()
        with self._lock:
            try:
                for volume_id in [inst.root_volume, *inst.data_volumes.values()]:
                    with contextlib.suppress(ValueError):
                        self._store.unmount(volume_id)
                self.network.detach(inst.instance_id)
                if not cgroups.remove_instance(self._state, inst.instance_id):
                    log.warning("the cgroups of sandbox instance %s still hold processes", inst.instance_id)
            finally:
                inst.state, inst.stopping, inst.proc = "stopped", False, None
                self._changed.notify_all()
            with contextlib.suppress(EnvironmentProblem):
                self._apply_ingress()

    def _signal_launcher_child(self, inst: _Instance, signum: int) -> None:
        """Signal nspawn (the launcher's only child, PID 1 of the launcher's pid namespace)."""
        if inst.proc is None:
            return
        for pid in _children(inst.proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def _signal_guest_init(self, inst: _Instance, signum: int) -> None:
        """Signal the instance's PID 1, the image's systemd (nspawn's child)."""
        if inst.proc is None:
            return
        for pid in (guest for child in _children(inst.proc.pid) for guest in _children(child)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)


def authorized_key_line(key: str) -> str:
    """One authorized_keys line for a public key, refusing anything that looks like a private key."""
    line = key.strip()
    if "PRIVATE KEY" in line or "\n" in line:
        raise ValueError("authorized_key must be one OpenSSH public key line, not a private key")
    return line + "\n"


def _kill_launcher(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL an instance's launcher (unshare --kill-child then kills nspawn, and the pid namespace)."""
    if proc is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # started with start_new_session: it leads its group
    proc.wait()


def _wait_ready(proc: subprocess.Popen[bytes], port: int, timeout: float, netns: Path) -> bool:
    """Wait until something listens on TCP `port` in the instance's network namespace `netns` (asked of the
    kernel there, so whatever its security groups allow), or the instance exits."""
    deadline = time.monotonic() + timeout
    try:
        diag = sockdiag.open_in_netns(netns)
    except OSError as exc:  # no sock_diag in this kernel: read /proc, which costs ~100x the CPU per poll
        log.debug("sock_diag unavailable in %s (%s); polling /proc/PID/net", netns, exc)
        return _wait_ready_by_proc(proc, port, deadline, netns)
    with diag:
        while time.monotonic() < deadline and proc.poll() is None:
            if port in sockdiag.listening_tcp_ports(diag):
                return True
            time.sleep(0.01)
    return False


def _wait_ready_by_proc(proc: subprocess.Popen[bytes], port: int, deadline: float, netns: Path) -> bool:
    """`_wait_ready` through the launcher's /proc/PID/net. Until the launcher has joined the instance's
    namespace its /proc/PID/net is the host's, whose own sshd must not count."""
    while time.monotonic() < deadline and proc.poll() is None:
        if _in_netns(proc.pid, netns) and _listening(proc.pid, port):
            return True
        time.sleep(0.01)
    return False


def _in_netns(pid: int, netns: Path) -> bool:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(netns).st_ino
    except OSError:
        return False


def _listening(pid: int, port: int) -> bool:
    """True if a socket of `pid`'s network namespace listens on TCP `port` (IPv4 or IPv6)."""
    wanted = f":{port:04X}"
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        if any(f[1].endswith(wanted) and f[3] == "0A" for f in (line.split() for line in lines) if len(f) > 3):
            return True
    return False


def _children(pid: int) -> list[int]:
    """Direct children of `pid` (nspawn is unshare's only child; the guest's init is nspawn's)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def instance_processes(state_dir: Path) -> list[int]:
    """Processes of instances under `state_dir`, and their launchers.

    A guest process is recognised by its mount namespace: its `/` is an overlay whose upper
    directory lies under state_dir (after pivot_root, /proc/PID/root no longer shows the path).
    """
    prefix = str(state_dir.resolve()) + "/"
    own_ns = os.readlink("/proc/self/ns/mnt")
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            launcher = nspawn.NSPAWN in cmdline and prefix in cmdline
            if launcher or (os.readlink(entry / "ns" / "mnt") != own_ns and _root_is_under(entry, prefix)):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _root_is_under(proc_entry: Path, prefix: str) -> bool:
    """True if the process's `/` is an overlay with its upper directory under `prefix`."""
    for line in (proc_entry / "mountinfo").read_text().splitlines():
        fields = line.split(" - ", 1)
        if len(fields) == 2 and fields[0].split()[4] == "/":
            return f"upperdir={prefix}" in fields[1]
    return False


def _remove_state(state_dir: Path) -> None:
    """Unmount everything under state_dir and delete what the runtime made there (its cgroups too)."""
    cgroups.remove_sandbox(state_dir)
    for point in mounts_under(state_dir):
        unmount_path(point)
    for name in ("instances", "store"):
        shutil.rmtree(state_dir / name, ignore_errors=True)


def cleanup_stale(state_dir: Path) -> None:
    """After a crashed daemon: kill leftover instance processes, unmount, and remove state."""
    state_dir = state_dir.resolve()
    if not state_dir.exists():
        return
    for _ in range(50):
        pids = instance_processes(state_dir) + [
            pid for root in cgroups.hierarchies() for pid in cgroups.processes(root / cgroups.group_root(state_dir))
        ]
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    _remove_state(state_dir)
    net.release(state_dir)
