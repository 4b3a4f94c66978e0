"""Start `python -m pytest` for the suites by forking a warm interpreter instead of starting a cold one.

A suite run's pytest process spends ~0.45 s of CPU importing pytest, testinfra, paramiko and cryptography
before it runs a test: ten validations at once in a pipeline spent seconds of CPU on it. One server process
per Goldsmith process imports them once (`python -m goldsmith.validate.forkserver FD`); each run is a fork of
it that becomes the pytest process: its own session and process group, its stdout and stderr the pipe the
caller reads, its environment and working directory the caller's, then pytest's console entry point, then
`os._exit`. The server is single-threaded (forking a threaded process is unsafe) and serves until its control
socket closes, when the Goldsmith process ends: then it kills the runs still going and exits.

Only what the interpreter reads when it starts cannot be given to a fork (PYTHONPATH, PYTHONHASHSEED...):
a server is kept per set of those settings. The fork also takes PYTHONUNBUFFERED and PYTHONDONTWRITEBYTECODE
from the request. `spawn` answers None when a command is not `python -m pytest` or no server can run; the
caller then starts a plain subprocess, as before.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import Mapping, Sequence
from typing import IO, Any

log = logging.getLogger(__name__)

# Set when the interpreter starts, so a fork keeps the server's: a request that differs needs its own server.
_HANDLED_IN_FORK = ("PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE")
_WARM = ("pytest", "_pytest.junitxml", "_pytest.terminal", "_pytest.python", "_pytest.fixtures", "_pytest.runner",
         "testinfra.host", "testinfra.modules", "testinfra.backend", "testinfra.backend.paramiko", "paramiko")
_MAX_REQUEST = 1 << 20


def _startup_settings(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in env.items() if k.startswith("PYTHON") and k not in _HANDLED_IN_FORK))


# ---------------------------------------------------------------------------------------------- client side


class ForkedProcess:
    """The part of `subprocess.Popen` that `suites._run_pytest` uses, for a run forked by the server."""

    def __init__(self, args: Sequence[str], pid: int, stdout: IO[bytes], channel: socket.socket) -> None:
        self.args, self.pid, self.stdout, self._channel = list(args), pid, stdout, channel
        self.returncode: int | None = None
        self._buffer = b""

    def poll(self) -> int | None:
        return self._read_exit(0.0)

    def wait(self, timeout: float | None = None) -> int:
        code = self._read_exit(timeout)
        if code is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        return code

    def _read_exit(self, timeout: float | None) -> int | None:
        """The exit status the server sends once it has reaped the run (None if it has not yet)."""
        if self.returncode is not None:
            return self.returncode
        self._channel.settimeout(timeout)
        try:
            while b"\n" not in self._buffer:
                chunk = self._channel.recv(4096)
                if not chunk:  # the server is gone without a status: report the run as killed
                    self._finish(-signal.SIGKILL)
                    return self.returncode
                self._buffer += chunk
        except (TimeoutError, BlockingIOError):
            return None
        self._finish(int(json.loads(self._buffer.split(b"\n", 1)[0])["exit"]))
        return self.returncode

    def _finish(self, code: int) -> None:
        self.returncode = code
        self._channel.close()


class _Server:
    """One warm server process and the control socket that requests go through."""

    def __init__(self, settings: tuple[tuple[str, str], ...]) -> None:
        # This process's environment with the requests' start-up settings: never a request's own variables
        # (they may hold secrets), which each run gets when it is forked.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")} | dict(settings)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "goldsmith.validate.forkserver", str(theirs.fileno())],
                env=env, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        self.control = ours
        self.lock = threading.Lock()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def spawn(self, args: Sequence[str], env: Mapping[str, str], cwd: str) -> ForkedProcess:
        read_end, write_end = os.pipe()
        mine, its = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            request = json.dumps({"args": list(args), "env": dict(env), "cwd": cwd}).encode()
            with self.lock:
                socket.send_fds(self.control, [request], [its.fileno(), write_end])
            mine.settimeout(30.0)
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = mine.recv(4096)
                if not chunk:
                    raise OSError("the suite fork server closed the request without starting pytest")
                reply += chunk
            pid = int(json.loads(reply)["pid"])
        except BaseException:
            mine.close()
            os.close(read_end)
            raise
        finally:
            its.close()
            os.close(write_end)
        return ForkedProcess(["python", "-m", "pytest", *args], pid, os.fdopen(read_end, "rb"), mine)

    def close(self) -> None:
        self.control.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)


_servers: dict[tuple[tuple[str, str], ...], _Server] = {}
_servers_lock = threading.Lock()


def spawn(command: Sequence[str], env: Mapping[str, str]) -> ForkedProcess | None:
    """Start `command` (``[sys.executable, "-m", "pytest", ...]``) as a fork of a warm server, with `env` and
    this process's working directory; None when it cannot be (the caller then starts a subprocess)."""
    if list(command[:3]) != [sys.executable, "-m", "pytest"]:
        return None
    key = _startup_settings(env)
    try:
        with _servers_lock:
            server = _servers.get(key)
            if server is None or not server.alive():
                server = _servers[key] = _Server(key)
        return server.spawn(command[3:], env, os.getcwd())
    except OSError as exc:
        log.debug("suite fork server unavailable (%s); starting pytest as a subprocess", exc)
        with _servers_lock:
            _servers.pop(key, None)
        return None


def warm_up(env: Mapping[str, str]) -> None:
    """Start the server for runs with `env` now, so its imports overlap other work (the validation
    instance's boot); nothing if it runs already or cannot start (the first run then starts it)."""
    key = _startup_settings(env)
    with _servers_lock:
        if key not in _servers or not _servers[key].alive():
            try:
                _servers[key] = _Server(key)
            except OSError as exc:
                log.debug("suite fork server did not start (%s)", exc)


@atexit.register
def _close_servers() -> None:
    with _servers_lock:
        for server in _servers.values():
            server.control.close()
        _servers.clear()


# ---------------------------------------------------------------------------------------------- server side


def serve(control: socket.socket) -> None:
    """Fork a pytest run for each request on `control` until it closes; report each run's exit status."""
    for name in _WARM:
        with contextlib.suppress(ImportError):
            __import__(name)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake the selector
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ, "control")
    selector.register(wake_r, selectors.EVENT_READ, "child")
    runs: dict[int, socket.socket] = {}  # pid -> the channel its exit status goes to
    inherited = [selector, control, wake_r, wake_w]
    while True:
        for key, _ in selector.select():
            if key.data == "control":
                if not _accept(control, selector, runs, inherited):
                    _kill_all(runs)
                    return
            elif key.data == "child":
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 4096)
                _reap(runs, selector)
            else:  # a caller closed its channel before the run ended: it gave up on the run
                pid = key.data
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                selector.unregister(key.fileobj)


def _accept(control: socket.socket, selector: selectors.BaseSelector, runs: dict[int, socket.socket],
            inherited: list[Any]) -> bool:
    """Fork the requested run; False when the control socket has closed."""
    try:
        data, fds, _flags, _addr = socket.recv_fds(control, _MAX_REQUEST, 2)
    except OSError:
        return False
    if not data:
        return False
    channel, out = socket.socket(fileno=fds[0]), fds[1]
    request = json.loads(data)
    pid = os.fork()
    if pid == 0:
        channel.close()
        for other in runs.values():
            other.close()
        _become_pytest(request, out, inherited)
    os.close(out)
    channel.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    runs[pid] = channel
    selector.register(channel, selectors.EVENT_READ, pid)
    return True


def _reap(runs: dict[int, socket.socket], selector: selectors.BaseSelector) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        channel = runs.pop(pid, None)
        if channel is not None:
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(channel)
            with contextlib.suppress(OSError):
                channel.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
            channel.close()


def _kill_all(runs: dict[int, socket.socket]) -> None:
    for pid in runs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def _become_pytest(request: dict[str, Any], out: int, inherited: list[Any]) -> None:
    """In the fork: turn into `python -m pytest ARGS` with the request's environment; never returns."""
    code = 70
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for thing in inherited:
            with contextlib.suppress(OSError):
                thing.close() if hasattr(thing, "close") else os.close(thing)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(devnull)
        os.close(out)
        env: dict[str, str] = request["env"]
        os.environ.clear()
        os.environ.update(env)
        os.chdir(request["cwd"])
        sys.path[0] = os.getcwd()  # as `python -m` puts it
        sys.dont_write_bytecode = bool(env.get("PYTHONDONTWRITEBYTECODE"))
        unbuffered = bool(env.get("PYTHONUNBUFFERED"))
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding=sys.stdout.encoding,
                                      errors="backslashreplace", line_buffering=True, write_through=unbuffered)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding=sys.stdout.encoding,
                                      errors="backslashreplace", line_buffering=True, write_through=True)
        sys.argv = [sys.executable, *request["args"]]
        import pytest

        code = int(pytest.console_main())
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = 70
    finally:
        with contextlib.suppress(BaseException):
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def main(argv: Sequence[str]) -> None:
    serve(socket.socket(fileno=int(argv[0])))


if __name__ == "__main__":
    main(sys.argv[1:])
