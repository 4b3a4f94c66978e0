"""The instance runtime end to end: real instances from the base image, reached over SSH."""

from __future__ import annotations

import io
import ipaddress
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from goldsmith.errors import EnvironmentProblem
from goldsmith.sandbox import cgroups
from goldsmith.sandbox.image import ensure_base_image
from goldsmith.sandbox.prereqs import check_prerequisites
from goldsmith.sandbox.runtime import Endpoint, InstanceRuntime, cleanup_stale

pytestmark = pytest.mark.sandbox

MIB = 1024 * 1024


def _skip_reason() -> str | None:
    try:
        check_prerequisites()
    except EnvironmentProblem as exc:
        return str(exc)
    return None


if (_reason := _skip_reason()) is not None:
    pytest.skip(_reason, allow_module_level=True)


@pytest.fixture(scope="session")
def base_image() -> Path:
    cache = Path(os.environ.get("GOLDSMITH_IMAGE_CACHE", "/var/cache/goldsmith/images"))
    return ensure_base_image(cache, progress=lambda line: print(line, file=sys.stderr))


@pytest.fixture
def runtime(tmp_path: Path, base_image: Path) -> Iterator[InstanceRuntime]:
    rt = InstanceRuntime(tmp_path / "state", base_image)
    rt.register_base_snapshot("snap-base")
    yield rt
    rt.shutdown()


class Key:
    """An ed25519 key pair made for the test: paramiko's private half, OpenSSH public line."""

    def __init__(self) -> None:
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ).decode()
        self.pkey = paramiko.Ed25519Key.from_private_key(io.StringIO(pem))
        self.public = (
            private.public_key()
            .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            .decode()
        )


@pytest.fixture(scope="module")
def key() -> Key:
    return Key()


class Guest:
    """A paramiko connection to an instance as admin."""

    def __init__(self, endpoint: Endpoint, key: Key) -> None:
        self.client = paramiko.SSHClient()
        self.client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        self.client.connect(
            endpoint.host, endpoint.port, username="admin", pkey=key.pkey,
            allow_agent=False, look_for_keys=False, timeout=10,
        )  # fmt: skip

    def run(self, command: str, check: bool = True) -> tuple[int, str]:
        _, stdout, stderr = self.client.exec_command(command, timeout=60)
        out = stdout.read().decode()
        status = stdout.channel.recv_exit_status()
        if check and status != 0:
            raise AssertionError(f"{command!r} exited {status}: {out}{stderr.read().decode()}")
        return status, out

    def host_key(self) -> str:
        transport = self.client.get_transport()
        assert transport is not None
        return transport.get_remote_server_key().get_base64()

    def close(self) -> None:
        self.client.close()


def connect_when_back(endpoint: Endpoint, key: Key, timeout: float = 60) -> Guest:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return Guest(endpoint, key)
        except (OSError, paramiko.SSHException):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


SETUP_DATA = """
set -e
sudo mkdir -p /data
echo '/dev/sdf /data none bind,nofail 0 0' | sudo tee -a /etc/fstab
sudo mount /data
echo payload | sudo tee /data/hello
"""


def test_snapshot_chain_keeps_writes_and_deletions(runtime: InstanceRuntime, key: Key) -> None:
    runtime.create_volume("vol-root", "snap-base")
    runtime.create_volume("vol-data", None)
    endpoint = runtime.start_instance("i-first", "vol-root", {"/dev/sdf": "vol-data"}, authorized_key=key.public)
    guest = Guest(endpoint, key)
    guest.run(SETUP_DATA)
    guest.run("echo baked | sudo tee /etc/baked-marker && sudo rm /etc/debian_version")
    # replace a base directory: the new upper directory is opaque, hiding the base's content
    guest.run("sudo rm -rf /usr/share/doc/sudo && sudo mkdir /usr/share/doc/sudo")
    guest.run("sudo touch /usr/share/doc/sudo/only")
    assert guest.run("sudo id -u")[1].strip() == "0"
    first_host_key = guest.host_key()
    guest.close()
    runtime.stop_instance("i-first")

    assert runtime.snapshot_volume("vol-root", "snap-root") > 0
    assert runtime.snapshot_volume("vol-data", "snap-data") > 0
    runtime.create_volume("vol-root2", "snap-root")
    runtime.create_volume("vol-data2", "snap-data")
    second_key = Key()
    endpoint2 = runtime.start_instance(
        "i-second", "vol-root2", {"/dev/sdf": "vol-data2"}, authorized_key=second_key.public
    )
    guest2 = Guest(endpoint2, second_key)
    assert guest2.run("cat /etc/baked-marker")[1] == "baked\n"
    assert guest2.run("test -e /etc/debian_version", check=False)[0] == 1
    assert guest2.run("ls /usr/share/doc/sudo")[1].split() == ["only"]
    assert guest2.run("findmnt -n -o TARGET /data")[1].strip() == "/data"
    assert guest2.run("cat /data/hello")[1] == "payload\n"
    assert guest2.host_key() != first_host_key
    # like cloud-init, the build key stays in the image unless someone removes it
    keys = guest2.run("cat ~/.ssh/authorized_keys; stat -c '%a %U' ~/.ssh ~/.ssh/authorized_keys")[1]
    assert key.public in keys and second_key.public in keys
    assert "700 admin\n600 admin" in keys
    guest2.close()

    # deleting the snapshots keeps the volumes made from them working (the layers are shared)
    runtime.stop_instance("i-second")
    runtime.delete_snapshot("snap-root")
    runtime.delete_snapshot("snap-data")
    guest3 = Guest(runtime.start_instance("i-second", "vol-root2", {"/dev/sdf": "vol-data2"}), second_key)
    assert guest3.run("cat /etc/baked-marker /data/hello")[1] == "baked\npayload\n"
    guest3.close()


def test_snapshots_store_only_what_changed(runtime: InstanceRuntime, key: Key) -> None:
    runtime.create_volume("vol-root", "snap-base")
    runtime.create_volume("vol-data", None)
    assert runtime.snapshot_volume("vol-data", "snap-empty") == 0
    endpoint = runtime.start_instance("i-size", "vol-root", {"/dev/sdf": "vol-data"}, authorized_key=key.public)
    guest = Guest(endpoint, key)
    guest.run("sudo dd if=/dev/urandom of=/dev/sdf/blob bs=1M count=1 status=none")
    live = runtime.snapshot_volume("vol-data", "snap-live")  # running: a crash-consistent copy
    assert MIB <= live < MIB + 64 * 1024
    guest.close()
    runtime.stop_instance("i-size")

    stopped = runtime.snapshot_volume("vol-data", "snap-stopped")
    assert MIB <= stopped < MIB + 64 * 1024
    assert runtime.snapshot_size("snap-stopped") == stopped
    assert runtime.snapshot_volume("vol-data", "snap-again") == 0
    assert runtime.snapshot_volume("vol-root", "snap-root-1") > 0  # host keys, authorized_keys, ...
    assert runtime.snapshot_volume("vol-root", "snap-root-2") == 0
    runtime.copy_snapshot("snap-live", "snap-copy")
    assert runtime.snapshot_size("snap-copy") == live
    runtime.create_volume("vol-from-live", "snap-live")
    assert "snap-copy" in runtime.snapshot_ids() and "vol-from-live" in runtime.volume_ids()


def test_reboot_drops_connection_and_keeps_disk(runtime: InstanceRuntime, key: Key) -> None:
    runtime.create_volume("vol-root", "snap-base")
    runtime.create_volume("vol-data", None)
    endpoint = runtime.start_instance("i-boot", "vol-root", {"/dev/sdf": "vol-data"}, authorized_key=key.public)
    guest = Guest(endpoint, key)
    guest.run(SETUP_DATA)
    guest.run("touch /tmp/scratch ~/kept")
    host_key = guest.host_key()

    # a reboot from inside, the way Goldsmith's reboot provisioner does it
    guest.run("nohup sudo sh -c 'sleep 0.5; shutdown -r now' </dev/null >/dev/null 2>&1 &")
    transport = guest.client.get_transport()
    assert transport is not None
    deadline = time.monotonic() + 30
    while transport.is_active() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not transport.is_active()
    guest = connect_when_back(endpoint, key)
    assert guest.run("ls ~/kept /data/hello")[1].split() == ["/data/hello", "/home/admin/kept"]
    assert "scratch" not in guest.run("ls -A /tmp")[1].split()  # systemd gave it a fresh /tmp
    assert guest.run("stat -c %a /tmp")[1].strip() == "1777"
    assert guest.host_key() == host_key

    # and from the API, like RebootInstances
    transport = guest.client.get_transport()
    assert transport is not None
    runtime.reboot_instance("i-boot")
    assert not transport.is_active()
    assert runtime.endpoint("i-boot") == endpoint
    guest = Guest(endpoint, key)
    assert guest.run("cat /data/hello")[1] == "payload\n"
    guest.close()


def test_the_image_s_systemd_is_pid_1_and_stop_is_its_clean_poweroff(runtime: InstanceRuntime, key: Key) -> None:
    runtime.create_volume("vol-root", "snap-base")
    endpoint = runtime.start_instance("i-power", "vol-root", {}, authorized_key=key.public)
    guest = Guest(endpoint, key)
    assert guest.run("cat /proc/1/comm")[1] == "systemd\n"
    assert guest.run("systemctl is-system-running --wait")[1] == "running\n"
    assert guest.run("systemctl is-active ssh systemd-journald dbus")[1].split() == ["active"] * 3
    assert guest.run("hostname")[1] == "i-power\n"
    # the VPC's resolver, as EC2's DHCP gives it, and it answers (forwarded to the host's)
    assert guest.run("cat /etc/resolv.conf")[1] == f"nameserver {runtime.network.dns_address}\n"
    assert guest.run("getent ahostsv4 deb.debian.org", check=False)[0] == 0
    machine_id = guest.run("cat /etc/machine-id")[1]
    guest.close()
    runtime.stop_instance("i-power")
    console = runtime.console_output("i-power")
    assert "Reached target" in console and "poweroff.target" in console and "Powering off." in console

    endpoint = runtime.start_instance("i-power", "vol-root", {})
    guest = Guest(endpoint, key)
    assert guest.run("cat /etc/machine-id")[1] == machine_id  # committed on the first boot, as on EC2
    assert guest.run("sudo journalctl --list-boots --no-pager | grep -c UTC")[1].strip() == "2"  # the journal persists
    # a poweroff from inside stops the instance (EC2: instance-initiated shutdown behaviour "stop")
    guest.run("nohup sudo sh -c 'sleep 0.5; poweroff' </dev/null >/dev/null 2>&1 &")
    deadline = time.monotonic() + 60
    while runtime.endpoint("i-power") is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [i.state for i in runtime.instances()] == ["stopped"]
    assert _mounts_under(runtime.state_dir) == []


def _instance_processes(state: Path) -> list[int]:
    """Processes in another mount namespace that sees our state dir, or launched with it."""
    own_ns = os.readlink("/proc/self/ns/mnt")
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
                other_ns = os.readlink(entry / "ns" / "mnt") != own_ns
                sees_state = other_ns and str(state) in (entry / "mountinfo").read_text()
            except OSError:
                continue
            if sees_state or str(state) in cmdline:
                found.append(int(entry.name))
    return found


def _mounts_under(state: Path) -> list[str]:
    with open("/proc/mounts") as handle:
        return [line.split()[1] for line in handle if line.split()[1].startswith(str(state))]


def test_shutdown_leaves_no_process_mount_or_directory(tmp_path: Path, base_image: Path, key: Key) -> None:
    state = (tmp_path / "state").resolve()
    runtime = InstanceRuntime(state, base_image)
    runtime.register_base_snapshot("snap-base")
    for n in range(2):
        runtime.create_volume(f"vol-{n}", "snap-base")
        runtime.create_volume(f"vol-data-{n}", None)
        runtime.start_instance(f"i-{n}", f"vol-{n}", {"/dev/sdf": f"vol-data-{n}"}, authorized_key=key.public)
    assert len(runtime.instances()) == 2 and all(i.state == "running" for i in runtime.instances())
    guests = _instance_processes(state)
    assert len(guests) >= 2 * 3, guests  # per instance at least: unshare, init, sshd
    # each instance's systemd has a cgroup of its own (shared ones made units fail at random: 219/CGROUP)
    for n in range(2):
        groups = [root / cgroups.group_root(state) / f"i-{n}" for root in cgroups.hierarchies()]
        assert groups and all(cgroups.processes(group) for group in groups), groups
    runtime.stop_instance("i-0")
    assert [i.state for i in runtime.instances() if i.instance_id == "i-0"] == ["stopped"]
    runtime.shutdown()
    assert _instance_processes(state) == []
    assert _mounts_under(state) == []
    assert list(state.iterdir()) == []
    assert not any((root / cgroups.group_root(state)).exists() for root in cgroups.hierarchies())
    assert base_image.is_dir()


def test_each_instance_has_its_own_address_and_sshd_on_port_22(runtime: InstanceRuntime, key: Key) -> None:
    runtime.create_volume("vol-root", "snap-base")
    endpoint = runtime.start_instance("i-net", "vol-root", {}, authorized_key=key.public)
    assert endpoint.port == 22 and ipaddress.ip_address(endpoint.host) in runtime.network.cidr
    with socket.create_connection((endpoint.host, endpoint.port), timeout=5) as sock:
        assert sock.recv(8).startswith(b"SSH-2.0")
    guest = Guest(endpoint, key)
    assert guest.run("ip -4 -o addr show dev eth0")[1].split()[3] == f"{endpoint.host}/32"
    listening = guest.run("sudo ss -Hltnp | grep sshd")[1]
    # its own network namespace: none of the host's interfaces, only its loopback and eth0
    links = [line.split(": ")[1].split("@")[0] for line in guest.run("ip -o link")[1].splitlines()]
    assert links == ["lo", "eth0"], links
    # the address sshd sees us connect from: the host's on the sandbox network (the builder's /32)
    assert guest.run("echo $SSH_CLIENT")[1].split()[0] == runtime.network.host_address
    guest.close()
    assert {line.split()[3] for line in listening.splitlines()} <= {"0.0.0.0:22", "[::]:22"}


CRASHING_DAEMON = """
import os, sys
from pathlib import Path
from goldsmith.sandbox.runtime import InstanceRuntime
rt = InstanceRuntime(Path(sys.argv[1]), Path(sys.argv[2]))
rt.register_base_snapshot("snap-base")
rt.create_volume("vol-root", "snap-base")
rt.create_volume("vol-data", None)
rt.start_instance("i-crash", "vol-root", {"/dev/sdf": "vol-data"})
print("up", flush=True)
os.kill(os.getpid(), 9)
"""


def test_cleanup_stale_after_a_crashed_daemon(tmp_path: Path, base_image: Path) -> None:
    state = (tmp_path / "state").resolve()
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CRASHING_DAEMON), str(state), str(base_image)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.stdout == "up\n", result.stderr
    assert _mounts_under(state)
    cleanup_stale(state)
    assert _instance_processes(state) == []
    assert _mounts_under(state) == []
    assert list(state.iterdir()) == []
    assert not any((root / cgroups.group_root(state)).exists() for root in cgroups.hierarchies())
    shutil.rmtree(state)


def test_cleanup_stale_kills_instances_that_outlived_their_daemon(tmp_path: Path, base_image: Path) -> None:
    state = (tmp_path / "state").resolve()
    runtime = InstanceRuntime(state, base_image)  # plays a hung daemon that a new one replaces
    runtime.register_base_snapshot("snap-base")
    runtime.create_volume("vol-root", "snap-base")
    runtime.create_volume("vol-data", None)
    runtime.start_instance("i-orphan", "vol-root", {"/dev/sdf": "vol-data"})
    assert len(_instance_processes(state)) >= 3
    cleanup_stale(state)
    assert _instance_processes(state) == []
    assert _mounts_under(state) == []
    assert list(state.iterdir()) == []
    runtime.shutdown()  # the old runtime notices its instance is gone and has nothing left to do
    assert [i.instance_id for i in runtime.instances()] == []


def test_many_threads_start_and_stop_instances_at_once(runtime: InstanceRuntime, key: Key) -> None:
    ids = [f"i-par{n}" for n in range(4)]
    for n in range(len(ids)):
        runtime.create_volume(f"vol-{n}", "snap-base")
        runtime.create_volume(f"vol-d{n}", None)

    def start(n: int) -> Endpoint:
        return runtime.start_instance(ids[n], f"vol-{n}", {"/dev/sdf": f"vol-d{n}"}, authorized_key=key.public)

    with ThreadPoolExecutor(max_workers=4) as pool:
        endpoints = list(pool.map(start, range(4)))
        assert len({e.host for e in endpoints}) == 4 and {e.port for e in endpoints} == {22}
        for n, endpoint in enumerate(endpoints):
            guest = Guest(endpoint, key)
            assert guest.run("hostname")[1].strip() == ids[n]
            guest.close()
        list(pool.map(runtime.stop_instance, ids))
    assert {i.state for i in runtime.instances()} == {"stopped"}
    assert all(runtime.endpoint(i) is None for i in ids)


def test_a_volume_that_cannot_boot_fails_with_its_console_log(runtime: InstanceRuntime) -> None:
    runtime.create_volume("vol-empty", None)
    with pytest.raises(EnvironmentProblem, match="i-broken failed to boot: its init exited with status"):
        runtime.start_instance("i-broken", "vol-empty", {})
    assert [(i.instance_id, i.state) for i in runtime.instances()] == [("i-broken", "stopped")]
    assert _mounts_under(runtime.state_dir) == []
    runtime.delete_volume("vol-empty")  # no longer attached


def test_guests_cannot_change_host_kernel_settings_or_make_devices(runtime: InstanceRuntime, key: Key) -> None:
    runtime.create_volume("vol-root", "snap-base")
    endpoint = runtime.start_instance("i-contained", "vol-root", {}, authorized_key=key.public)
    guest = Guest(endpoint, key)
    swappiness = Path("/proc/sys/vm/swappiness").read_text().strip()
    # Writing the host's own value back: harmless if it got through, refused if contained.
    status, out = guest.run(f"sudo sysctl -w vm.swappiness={swappiness} 2>&1", check=False)
    assert status != 0, out
    status, out = guest.run("echo x | sudo tee /proc/sys/kernel/domainname 2>&1", check=False)
    assert status != 0 and "Read-only file system" in out, out
    status, out = guest.run("echo h | sudo tee /proc/sysrq-trigger 2>&1", check=False)  # h: print help only
    assert status != 0, out
    for masked in ("kcore", "keys", "timer_list", "kallsyms"):
        assert guest.run(f"sudo cat /proc/{masked} 2>/dev/null | wc -c")[1].strip() == "0", masked
    status, out = guest.run("sudo mknod /tmp/null2 c 1 3 2>&1", check=False)
    assert status != 0 and "Operation not permitted" in out, out
    status, out = guest.run("sudo ip link add sbx0 type dummy 2>&1", check=False)  # net_admin
    assert status != 0, out
    # kexec_file_load(-1, -1, ...): EBADF if the call got through to the kernel, EPERM if the filter refused it
    kexec = "syscall(320, -1, -1, 0, 0, 0); print \"$!\\n\""  # x86_64's kexec_file_load, in perl-base
    assert guest.run(f"sudo perl -e '{kexec}'")[1].strip() == "Operation not permitted"
    assert guest.run("systemctl is-system-running --wait")[1].strip() == "running"  # no unit failed in there
    assert guest.run("sudo true && sudo apt-get --version >/dev/null && echo ok")[1] == "ok\n"
    guest.close()
    assert Path("/proc/sys/vm/swappiness").read_text().strip() == swappiness
    assert b"sbx0" not in subprocess.run(["ip", "link"], capture_output=True, check=False).stdout


def _boot_in_thread(runtime: InstanceRuntime, instance_id: str, root: str) -> tuple[list[BaseException], bool]:
    """start_instance on a thread; returns (the errors it raised, whether it returned at all within 120 s)."""
    errors: list[BaseException] = []

    def boot() -> None:
        try:
            runtime.start_instance(instance_id, root, {})
        except BaseException as exc:  # the test inspects it
            errors.append(exc)

    thread = threading.Thread(target=boot, daemon=True)
    thread.start()
    thread.join(120)  # a liveness bound, not a timing assertion: without the fix it never returns
    return errors, not thread.is_alive()


def test_a_spawn_failure_fails_the_start_and_leaks_nothing(runtime: InstanceRuntime,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    runtime.create_volume("vol-root", "snap-base")

    def no_process(*args: object, **kwargs: object) -> None:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(runtime, "_spawn", no_process)
    errors, returned = _boot_in_thread(runtime, "i-nospawn", "vol-root")
    assert returned, "start_instance hung after the launcher could not be spawned"
    assert [type(e) for e in errors] == [EnvironmentProblem], errors
    assert "Resource temporarily unavailable" in str(errors[0])
    assert [(i.instance_id, i.state) for i in runtime.instances()] == [("i-nospawn", "stopped")]
    assert _mounts_under(runtime.state_dir) == []
    runtime.delete_volume("vol-root")  # no longer attached


def test_a_thread_start_failure_fails_the_start_and_leaks_nothing(runtime: InstanceRuntime,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    runtime.create_volume("vol-root", "snap-base")

    class NoThread(threading.Thread):
        def start(self) -> None:
            if self.name.startswith("sandbox-"):
                raise RuntimeError("can't start new thread")
            super().start()

    monkeypatch.setattr("goldsmith.sandbox.runtime.threading.Thread", NoThread)
    errors, returned = _boot_in_thread(runtime, "i-nothread", "vol-root")
    assert returned, "start_instance hung after its supervisor thread could not start"
    assert [type(e) for e in errors] == [EnvironmentProblem] and "can't start new thread" in str(errors[0])
    assert _mounts_under(runtime.state_dir) == []
    runtime.delete_volume("vol-root")


def test_a_live_snapshot_copy_does_not_block_other_calls(runtime: InstanceRuntime, key: Key,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    runtime.create_volume("vol-root", "snap-base")
    endpoint = runtime.start_instance("i-live", "vol-root", {}, authorized_key=key.public)
    guest = Guest(endpoint, key)
    guest.run("echo live | sudo tee /live.txt && sync")
    guest.close()
    store = runtime._store  # the copy is held open to see what else can run meanwhile
    copying, release = threading.Event(), threading.Event()
    real_copy = store.copy_live_upper

    def held_copy(volume_id: str, layer: str) -> Path:
        copying.set()
        release.wait(120)
        return real_copy(volume_id, layer)

    monkeypatch.setattr(store, "copy_live_upper", held_copy)
    with ThreadPoolExecutor(max_workers=2) as pool:
        snapshot = pool.submit(runtime.snapshot_volume, "vol-root", "snap-live")
        assert copying.wait(60)
        other = pool.submit(runtime.create_volume, "vol-other", "snap-base")
        done_meanwhile = _finishes(other)
        release.set()
        assert done_meanwhile, "create_volume waited for another volume's snapshot copy"
        assert snapshot.result(timeout=120) > 0
    runtime.stop_instance("i-live")
    runtime.create_volume("vol-copy", "snap-live")
    endpoint = runtime.start_instance("i-copy", "vol-copy", {}, authorized_key=key.public)
    guest = Guest(endpoint, key)
    assert guest.run("cat /live.txt")[1] == "live\n"
    guest.close()


def _finishes(future: Future[None]) -> bool:
    try:
        future.result(timeout=60)  # a liveness bound: without the fix it waits for the release
    except FutureTimeout:
        return False
    return True


def test_after_shutdown_starts_nothing_new(tmp_path: Path, base_image: Path) -> None:
    state = (tmp_path / "state").resolve()
    runtime = InstanceRuntime(state, base_image)
    runtime.register_base_snapshot("snap-base")
    runtime.create_volume("vol-root", "snap-base")
    runtime.shutdown()
    with pytest.raises(EnvironmentProblem, match="shutting down"):
        runtime.create_volume("vol-late", "snap-base")
    with pytest.raises(EnvironmentProblem, match="shutting down"):
        runtime.start_instance("i-late", "vol-root", {})
    assert _mounts_under(state) == [] and _instance_processes(state) == []
