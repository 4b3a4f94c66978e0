"""The sandbox daemon: moto child process + instance runtime + gateway, in the foreground until a signal.

``python -m goldsmith.sandbox serve --state-dir D`` runs it; manage.up() starts it detached. From its first
moment it holds an flock on D/daemon.lock (and writes its pid to D/daemon.pid), so a second daemon on the
same state dir refuses to start and manage can find a daemon that has not written sandbox.json yet (still
building the base image). Its moto listens on the unix socket D/moto.sock and enforces IAM; the daemon writes
the sandbox's administrator key with the endpoint in D/credentials.json, then D/sandbox.json (pid,
gateway_url, moto_pid, moto_socket, region, started_at) once it serves. D is 0700 and its files 0600
(goldsmith.sandbox.state_dir). On SIGTERM/SIGINT it stops the gateway, shuts the runtime down (instances,
mounts), stops moto and removes sandbox.json, credentials.json and the socket.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from goldsmith.engine.files import write_json_atomic
from goldsmith.errors import EnvironmentProblem
from goldsmith.sandbox import credentials
from goldsmith.sandbox.moto_server import MotoProcess
from goldsmith.sandbox.network import claim as claim_network
from goldsmith.sandbox.network import release as release_network
from goldsmith.sandbox.state_dir import PRIVATE_DIR, PRIVATE_FILE, make_private, private_file

if TYPE_CHECKING:
    from goldsmith.sandbox.gateway import Gateway

log = logging.getLogger(__name__)
DEFAULT_REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1")
DEFAULT_IMAGE_CACHE = "/var/cache/goldsmith/images"
INFO_FILE = "sandbox.json"
LOCK_FILE = "daemon.lock"
PID_FILE = "daemon.pid"
MOTO_SOCKET = "moto.sock"


@dataclass(frozen=True)
class DaemonSettings:
    """Everything the daemon needs; regions[0] is the default region."""

    state_dir: Path
    port: int = 0
    regions: Sequence[str] = DEFAULT_REGIONS
    image_cache: Path | None = None

    @property
    def cache_dir(self) -> Path:
        return self.image_cache or Path(os.environ.get("GOLDSMITH_IMAGE_CACHE", DEFAULT_IMAGE_CACHE))


def base_image_name(rootfs: Path) -> str:
    """debian-12-sandbox-amd64-YYYYMMDD, dated by when the base image was built (stable across restarts)."""
    from goldsmith.sandbox.image import BASE_IMAGE_NAME_PREFIX

    built = datetime.fromtimestamp(rootfs.stat().st_mtime, UTC)
    return f"{BASE_IMAGE_NAME_PREFIX}-{built:%Y%m%d}"


def serve(settings: DaemonSettings, progress: Callable[[str], None] = print) -> None:
    """Run the sandbox until SIGTERM/SIGINT; cleans up everything it started, whatever happens."""
    state_dir = settings.state_dir.resolve()
    make_private(state_dir)
    with _daemon_lock(state_dir):
        _serve_locked(settings, state_dir, progress)


@contextlib.contextmanager
def _daemon_lock(state_dir: Path) -> Iterator[None]:
    """Hold state_dir/daemon.lock for the daemon's lifetime; refuse if another daemon holds it."""
    # O_CLOEXEC: moto and the instances do not inherit the lock
    with os.fdopen(private_file(state_dir / LOCK_FILE), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = (state_dir / PID_FILE).read_text().strip() if (state_dir / PID_FILE).exists() else "?"
            raise EnvironmentProblem(f"another sandbox daemon (pid {pid}) already serves {state_dir}; "
                                     "stop it with `invoke sandbox.down`") from None
        with os.fdopen(private_file(state_dir / PID_FILE, "w"), "w") as pid_file:
            pid_file.write(f"{os.getpid()}\n")
        try:
            yield
        finally:
            (state_dir / PID_FILE).unlink(missing_ok=True)


def _serve_locked(settings: DaemonSettings, state_dir: Path, progress: Callable[[str], None]) -> None:
    from goldsmith.sandbox.image import ensure_base_image
    from goldsmith.sandbox.prereqs import check_prerequisites

    stop = threading.Event()
    _install_signal_handlers(stop)
    check_prerequisites()
    rootfs = ensure_base_image(settings.cache_dir, progress)
    (state_dir / "runtime").mkdir(mode=PRIVATE_DIR, exist_ok=True)
    network = claim_network(state_dir / "runtime")  # first: moto's default VPC is this network
    progress("starting the control plane (moto)")
    (state_dir / credentials.CREDENTIALS_FILE).unlink(missing_ok=True)
    os.close(private_file(state_dir / "moto.log"))
    try:
        moto = MotoProcess.spawn(base_image_name=base_image_name(rootfs), log=state_dir / "moto.log",
                                 die_with_parent=True, iam=True, unix_socket=state_dir / MOTO_SOCKET,
                                 vpc_cidr=str(network.cidr))
    except BaseException:
        release_network(state_dir / "runtime")
        raise
    runtime = gateway = None
    try:
        # While moto starts (~2 s): import boto3, botocore and the gateway, parse the models of the calls the
        # sandbox makes itself (~1.5 s of `sandbox up` that would otherwise come after moto's)
        from goldsmith.sandbox.gateway import Gateway
        from goldsmith.sandbox.moto_transport import load_models
        from goldsmith.sandbox.runtime import InstanceRuntime

        load_models("iam", "ec2")
        moto.wait_ready()
        runtime = InstanceRuntime(state_dir / "runtime", rootfs, network)
        gateway = Gateway(moto.url, runtime, port=settings.port, credentials=moto.credentials)
        gateway.start()
        credentials.write(state_dir, moto.credentials, gateway.url, settings.regions[0])
        write_json_atomic(state_dir / INFO_FILE, {
            "pid": os.getpid(), "gateway_url": gateway.url, "moto_pid": moto.proc.pid,
            "moto_socket": str(state_dir / MOTO_SOCKET), "region": settings.regions[0],
            "regions": list(settings.regions), "started_at": time.time(), "network": str(network.cidr),
            "host_address": network.host_address}, mode=PRIVATE_FILE)
        progress(f"sandbox serving at {gateway.url}")
        _SERVING.set()
        _warm_regions(gateway, settings.regions)
        while not stop.wait(1.0):
            if moto.proc.poll() is not None:
                log.error("moto exited with status %s; stopping the sandbox", moto.proc.returncode)
                break
    finally:
        _shutdown(state_dir, moto, runtime, gateway)


_SERVING = threading.Event()


def _warm_regions(gateway: Gateway, regions: Sequence[str]) -> None:
    """Have moto make each region's base AMIs now, in the background: the first RunInstances or CreateVolume of
    a region would otherwise wait for it (prepare_region is idempotent and locked), and `sandbox up` need not
    (~0.2 s a region)."""

    def warm() -> None:
        for region in regions:
            try:
                gateway.machines.prepare_region(region)
            except Exception:  # the sandbox stopping meanwhile; a request to the region prepares it again
                log.debug("warming region %s failed", region, exc_info=True)

    threading.Thread(target=warm, name="warm-regions", daemon=True).start()


def _install_signal_handlers(stop: threading.Event) -> None:
    """Once serving, a signal ends the loop; before that (building the base image) it aborts startup."""

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()
        if not _SERVING.is_set():
            raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _shutdown(state_dir: Path, moto: MotoProcess, runtime: object | None, gateway: object | None) -> None:
    """Each step runs even if an earlier one failed; the first error is logged, not raised twice."""
    from goldsmith.sandbox.gateway import Gateway
    from goldsmith.sandbox.runtime import InstanceRuntime

    steps: list[tuple[str, Callable[[], None]]] = []
    if isinstance(gateway, Gateway):
        steps.append(("stop the gateway", gateway.stop))
    if isinstance(runtime, InstanceRuntime):
        steps.append(("shut the instance runtime down", runtime.shutdown))
    steps.append(("stop moto", moto.stop))
    steps.append(("remove the sandbox network", lambda: release_network(state_dir / "runtime")))
    steps.append(("remove sandbox.json", lambda: (state_dir / INFO_FILE).unlink(missing_ok=True)))
    steps.append(("remove credentials.json",
                  lambda: (state_dir / credentials.CREDENTIALS_FILE).unlink(missing_ok=True)))
    steps.append(("remove moto's socket", lambda: (state_dir / MOTO_SOCKET).unlink(missing_ok=True)))
    for what, step in steps:
        try:
            step()
        except Exception:
            log.exception("could not %s", what)
