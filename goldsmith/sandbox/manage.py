"""Start, find and stop the sandbox daemon from another process (invoke tasks, tests, the sandbox target).

``up`` is idempotent: a live, healthy daemon is reused; otherwise the leftovers of a dead one are
cleaned and a new daemon is spawned detached (its log in STATE_DIR/daemon.log). A daemon holds
STATE_DIR/daemon.lock for its whole life, even before it serves (while it builds the base image), so
``up`` waits for such a daemon instead of starting a second one, and ``down`` stops it. ``down`` leaves
no process, mount or runtime directory behind. Only the user who owns STATE_DIR (goldsmith.sandbox.state_dir)
can do any of it: the key every request to the sandbox must be signed with is in STATE_DIR/credentials.json.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from goldsmith.errors import EnvironmentProblem
from goldsmith.sandbox import credentials
from goldsmith.sandbox.client import SandboxClient
from goldsmith.sandbox.credentials import Credentials
from goldsmith.sandbox.daemon import INFO_FILE, LOCK_FILE, MOTO_SOCKET, PID_FILE
from goldsmith.sandbox.state_dir import make_private, private_file

DEFAULT_STATE_DIR = "/var/lib/goldsmith/sandbox"
UP_TIMEOUT = 900.0  # the first start builds the base image with debootstrap
DOWN_TIMEOUT = 120.0


@dataclass(frozen=True)
class SandboxInfo:
    """A running sandbox, as its daemon described itself in sandbox.json."""

    state_dir: Path
    pid: int
    gateway_url: str
    moto_pid: int
    moto_socket: str
    region: str
    started_at: float
    credentials: Credentials  # the sandbox's administrator key: every request must be signed with a key of its IAM
    network: str = ""  # the sandbox network (every region's default VPC), e.g. 100.82.0.0/16
    host_address: str = "127.0.0.1"  # this host's address on it: where instances see the builder's connections from

    def client(self) -> SandboxClient:
        """A client of its control API, signed with its key."""
        return SandboxClient(self.gateway_url, self.credentials)


def default_state_dir() -> Path:
    return Path(os.environ.get("GOLDSMITH_SANDBOX_DIR", DEFAULT_STATE_DIR))


_children: dict[int, subprocess.Popen[bytes]] = {}  # daemons this process spawned, reaped by _alive


def _alive(pid: int) -> bool:
    if pid in _children:
        return _children[pid].poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):  # a zombie child of ours counts as dead
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            return False
    return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def daemon_pid(state_dir: Path) -> int | None:
    """The pid of the daemon holding state_dir's daemon lock (serving or still starting), or None."""
    try:
        with open(state_dir / LOCK_FILE, "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                pass
            else:
                return None  # nobody holds it
    except OSError:
        return None
    for _ in range(50):  # the holder writes its pid right after taking the lock
        with contextlib.suppress(OSError, ValueError):
            return int((state_dir / PID_FILE).read_text())
        time.sleep(0.02)
    return None


def read_info(state_dir: Path) -> SandboxInfo | None:
    """What sandbox.json says, with the key in credentials.json, or None if either is missing (or unreadable:
    another user's sandbox)."""
    try:
        data = json.loads((state_dir / INFO_FILE).read_text())
        return SandboxInfo(state_dir, int(data["pid"]), str(data["gateway_url"]), int(data["moto_pid"]),
                           str(data["moto_socket"]), str(data["region"]), float(data["started_at"]),
                           credentials.read(state_dir), str(data.get("network", "")),
                           str(data.get("host_address", "127.0.0.1")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def status(state_dir: Path) -> SandboxInfo | None:
    """The sandbox if its daemon is alive and its gateway answers health, else None."""
    info = read_info(state_dir)
    if info is None or not _alive(info.pid):
        return None
    try:
        SandboxClient(info.gateway_url, info.credentials, timeout=5).health()
    except EnvironmentProblem:
        return None
    return info


@contextlib.contextmanager
def _exclusive(state_dir: Path) -> Iterator[None]:
    """One up()/down() at a time per state dir, across processes (parallel bakes start it together); the
    state dir is made (or checked to be) this user's own, 0700."""
    make_private(state_dir)
    with os.fdopen(private_file(state_dir / ".manage.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def up(state_dir: Path, progress: Callable[[str], None] | None = None) -> SandboxInfo:
    """Return the running sandbox, starting it (detached) if needed."""
    state_dir = state_dir.resolve()
    running = status(state_dir)
    if running is None:
        with _exclusive(state_dir):
            say = progress or (lambda _line: None)
            running = status(state_dir) or _await_starting(state_dir, say) or _start(state_dir, say)
    if not running.network:
        raise EnvironmentProblem(
            f"the sandbox daemon (pid {running.pid}) in {state_dir} was started by an older Goldsmith, whose "
            "instances share this host's network; restart it with `invoke sandbox.down` then `invoke sandbox.up` "
            "(its instances go too)")
    return running


def _await_starting(state_dir: Path, say: Callable[[str], None]) -> SandboxInfo | None:
    """If a daemon holds the lock but does not serve yet (an interrupted up), wait for it; None if none."""
    pid = daemon_pid(state_dir)
    if pid is None:
        return None
    _refuse_keyless(state_dir, pid)
    say(f"waiting for the sandbox daemon (pid {pid}) that is still starting in {state_dir}")
    deadline = time.monotonic() + UP_TIMEOUT
    while time.monotonic() < deadline and daemon_pid(state_dir) == pid:
        info = status(state_dir)
        if info is not None and info.pid == pid:
            return info
        time.sleep(0.2)
    if daemon_pid(state_dir) == pid:
        _stop_pid(pid, DOWN_TIMEOUT)
        raise EnvironmentProblem(f"the sandbox daemon (pid {pid}) did not become ready within {UP_TIMEOUT:.0f} s"
                                 f"; it was stopped. Its log: {state_dir / 'daemon.log'}")
    return None  # it died while starting: start a new one


def _refuse_keyless(state_dir: Path, pid: int) -> None:
    """A daemon that already serves (sandbox.json) without a key file was started by a Goldsmith from before
    per-sandbox keys: it will never write one, so waiting for it (and then stopping it) would be wrong."""
    try:
        served_by = int(json.loads((state_dir / INFO_FILE).read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    if served_by == pid and not (state_dir / credentials.CREDENTIALS_FILE).exists():
        raise EnvironmentProblem(
            f"the sandbox daemon (pid {pid}) in {state_dir} was started by an older Goldsmith, without a key of its "
            "own, and anyone on this machine can drive it; stop it with `invoke sandbox.down` (its instances go "
            "too) and start it again")


def _start(state_dir: Path, say: Callable[[str], None]) -> SandboxInfo:
    _clean_leftovers(state_dir)
    say(f"starting the sandbox in {state_dir} (the first start builds the base image, a minute or two)")
    log_path = state_dir / "daemon.log"
    with os.fdopen(private_file(log_path), "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "goldsmith.sandbox", "serve", "--state-dir", str(state_dir)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    _children[proc.pid] = proc
    deadline = time.monotonic() + UP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EnvironmentProblem(f"the sandbox daemon exited with status {proc.returncode}:\n"
                                     f"{_tail(log_path)}\n(full log: {log_path})")
        info = status(state_dir)
        if info is not None and info.pid == proc.pid:
            say(f"sandbox ready at {info.gateway_url}")
            return info
        time.sleep(0.05)  # a fresh daemon serves within ~3 s: look often
    _stop_pid(proc.pid, DOWN_TIMEOUT)
    raise EnvironmentProblem(f"the sandbox did not become ready within {UP_TIMEOUT:.0f} s:\n{_tail(log_path)}")


def down(state_dir: Path) -> None:
    """Stop the daemon (SIGTERM, then SIGKILL) and remove whatever a crash could have left."""
    state_dir = state_dir.resolve()
    if not state_dir.exists():
        return
    with _exclusive(state_dir):
        info = read_info(state_dir)
        if info is not None and _alive(info.pid) and "goldsmith.sandbox" in _cmdline(info.pid):
            _stop_pid(info.pid, DOWN_TIMEOUT)
        holder = daemon_pid(state_dir)  # a daemon still starting has no sandbox.json yet
        if holder is not None and _alive(holder) and "goldsmith.sandbox" in _cmdline(holder):
            _stop_pid(holder, DOWN_TIMEOUT)
        _clean_leftovers(state_dir)


def _clean_leftovers(state_dir: Path) -> None:
    """After a dead daemon: its moto child, instance processes, mounts and sandbox.json."""
    from goldsmith.sandbox.runtime import cleanup_stale

    info = read_info(state_dir)
    if info is not None and _alive(info.moto_pid) and "goldsmith.sandbox.moto_server" in _cmdline(info.moto_pid):
        _stop_pid(info.moto_pid, 10)
    cleanup_stale(state_dir / "runtime")
    with contextlib.suppress(OSError):  # only if empty: anything left inside is a bug to see
        (state_dir / "runtime").rmdir()
    (state_dir / INFO_FILE).unlink(missing_ok=True)
    (state_dir / credentials.CREDENTIALS_FILE).unlink(missing_ok=True)
    (state_dir / MOTO_SOCKET).unlink(missing_ok=True)


def _stop_pid(pid: int, timeout: float) -> None:
    """SIGTERM, then SIGKILL: the whole process group if `pid` leads its own (the daemon does, so
    debootstrap or a chroot it runs goes too), else the process alone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    leads_group = False
    with contextlib.suppress(ProcessLookupError):
        leads_group = os.getpgid(pid) == pid and pid != os.getpgrp()
    with contextlib.suppress(ProcessLookupError):
        if leads_group:
            os.killpg(pid, signal.SIGKILL)
        elif _alive(pid):
            os.kill(pid, signal.SIGKILL)
    while _alive(pid):
        time.sleep(0.05)


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def env_lines(info: SandboxInfo) -> list[str]:
    """Shell lines to point AWS tools at the sandbox: eval "$(python -m goldsmith.sandbox env)"."""
    values = {"AWS_ENDPOINT_URL": info.gateway_url, "AWS_DEFAULT_REGION": info.region, "AWS_REGION": info.region,
              "AWS_ACCESS_KEY_ID": info.credentials.access_key_id,
              "AWS_SECRET_ACCESS_KEY": info.credentials.secret_access_key,
              "GOLDSMITH_SANDBOX_DIR": str(info.state_dir)}
    return [f"export {name}={shlex.quote(value)}" for name, value in values.items()]


def status_text(state_dir: Path) -> str:
    """A few lines for people: where the sandbox serves, its instances and snapshots."""
    info = status(state_dir)
    if info is None:
        return f"the sandbox in {state_dir} is not running (start it with `invoke sandbox.up`)"
    client = info.client()
    lines = [f"sandbox pid {info.pid} at {info.gateway_url} (region {info.region}, state {state_dir})"]
    for row in client.instances():
        where = f"{row['host']}:{row['port']}" if row.get("port") else "-"
        lines.append(f"  {row['instance_id']}  {row['state']:<9} {where:<21} {row.get('ami') or '-'}")
    for snap in client.snapshots():
        lines.append(f"  {snap['snapshot_id']}  {snap.get('volume_id') or '-':<22} {snap.get('bytes') or 0} bytes")
    return "\n".join(lines)
