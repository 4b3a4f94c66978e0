"""Run pytest-testinfra suites against one instance, in a pytest process of its own (forked from a warm
server: goldsmith.validate.forkserver; a plain subprocess where it cannot be).

A subprocess keeps the suites' output and failures apart from the bake's own, and a hung suite can be
killed (its whole process group) at the timeout. The summary is read from the JUnit XML report.
The private key reaches testinfra as a 0600 file in a private temporary directory that is removed on
every path; output, failure messages and the report itself are redacted of secret values.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from goldsmith.engine.cancel import NEVER, CancelToken
from goldsmith.errors import InputError
from goldsmith.report.redact import Redactor
from goldsmith.ssh.keys import PrivateKey
from goldsmith.ssh.relay import proxy_command
from goldsmith.validate import forkserver
from goldsmith.validate.channel import HOST_KEY_ENV, VARS_ENV
from goldsmith.validate.forkserver import ForkedProcess
from goldsmith.validate.junit import Failure, Summary, parse_junit

VAR_PREFIX = "GOLDSMITH_VAR_"
RELAY_ERRORS = "relay-errors"  # in the private workdir: why the bastion relay failed, one line each
SSH_PORT_ENV = "GOLDSMITH_SSH_PORT"
CLIENT_KEY_ENV = "GOLDSMITH_VALIDATION_PUBLIC_KEY"
# Settings of the caller's environment that would change how pytest or paramiko behave.
_SCRUBBED = ("SSH_AUTH_SOCK", "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_CURRENT_TEST")
_INI = """[pytest]
# Goldsmith's own settings: the project's pytest configuration is for its tests, not for image suites.
filterwarnings =
    ignore:Unknown .* host key for:UserWarning
"""


@dataclass(frozen=True)
class Jump:
    """A bastion the suites reach the instance through; ``host_key`` pins it (else first use is trusted)."""

    host: str
    port: int
    user: str
    key: PrivateKey
    host_key: str | None = None


@dataclass(frozen=True)
class Connection:
    """How the suites reach the instance; ``host_key`` is the pin taken at first contact."""

    host: str
    port: int
    user: str
    key: PrivateKey
    host_key: str | None = None
    connect_timeout: int = 30
    bastion: Jump | None = None


@dataclass(frozen=True)
class SuiteResult:
    passed: int
    failed: int
    errors: int
    failures: list[Failure]
    junit_path: Path
    skipped: int = 0
    exit_code: int = 0
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        """True only when tests ran and none failed: an empty or killed run proves nothing."""
        return self.failed == 0 and self.errors == 0 and self.passed > 0 and not self.timed_out

    def record(self) -> dict[str, object]:
        """What the manifest keeps of this validation."""
        return {"junit": str(self.junit_path), "passed": self.passed, "failed": self.failed,
                "errors": self.errors, "skipped": self.skipped, "timed_out": self.timed_out,
                "failures": [f.as_dict() for f in self.failures]}

    def summary_line(self) -> str:
        text = f"{self.passed} passed, {self.failed} failed, {self.errors} errors"
        text += f", {self.skipped} skipped" if self.skipped else ""
        return text + (", timed out" if self.timed_out else "")


@dataclass
class _Run:
    """One pytest process: what it printed (redacted) and how it ended."""

    exit_code: int = 0
    timed_out: bool = False
    tail: list[str] = field(default_factory=list)


def run_suites(
    suites: Sequence[Path],
    *,
    connection: Connection,
    env: Mapping[str, str],
    variables: Mapping[str, str],
    junit_path: Path,
    timeout: float,
    on_output: Callable[[str], None],
    secrets: Collection[str] = (),
    cancel: CancelToken = NEVER,
) -> SuiteResult:
    """Run the suites against the instance and summarise them; never raises for failing tests
    (a cancelled token kills them and raises Cancelled)."""
    suites = [Path(s).resolve() for s in suites]
    missing = [str(s) for s in suites if not s.exists()]
    if missing:
        raise InputError(f"validation suite not found: {', '.join(missing)}")
    redact = Redactor(secrets)
    junit_path = Path(junit_path).resolve()
    junit_path.parent.mkdir(parents=True, exist_ok=True)
    junit_path.unlink(missing_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="goldsmith-validate-"))
    try:
        command = pytest_command(suites, connection, workdir, junit_path)
        child_env = suite_environment(os.environ, env, variables, connection)
        if connection.host_key is None:
            on_output("warning: no host key pinned; the suites trust the key the instance shows")
        run = _run_pytest(command, child_env, timeout, lambda line: on_output(redact(line)), cancel)
        relay_errors = workdir / RELAY_ERRORS
        if relay_errors.exists():  # the suites only saw "Error reading SSH protocol banner": say why
            for reason in dict.fromkeys(relay_errors.read_text().splitlines()):
                on_output(redact(f"error: the suites could not reach the instance: {reason}"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return _result(run, junit_path, redact, timeout)


def pytest_command(suites: Sequence[Path], connection: Connection, workdir: Path, junit_path: Path) -> list[str]:
    """``python -m pytest`` with testinfra's paramiko backend and our plugin, isolated from the project: the
    other pytest plugins installed beside Goldsmith are not loaded (see `suite_environment`)."""
    key_file = connection.key.write_private_file(workdir / "key")
    ssh_config = workdir / "ssh_config"
    ssh_config.write_text(ssh_config_text(connection, workdir))
    ini = workdir / "pytest.ini"
    ini.write_text(_INI)
    spec = (f"paramiko://{connection.user}@{connection.host}:{connection.port}"
            f"?ssh_identity_file={quote(str(key_file))}&ssh_config={quote(str(ssh_config))}"
            f"&timeout={connection.connect_timeout}")
    anchor = Path(os.path.commonpath([s if s.is_dir() else s.parent for s in suites]))
    return [
        sys.executable, "-m", "pytest", *map(str, suites),
        f"--hosts={spec}", f"--junitxml={junit_path}",
        "-c", str(ini), f"--rootdir={_rootdir(anchor)}", f"--confcutdir={anchor}",
        "-p", "no:cacheprovider", "-p", "testinfra.plugin", "-p", "goldsmith.validate.plugin",
        "-o", "junit_family=xunit2", "-rfE", "--tb=short", "--color=no", "-v",
    ]


def ssh_config_text(connection: Connection, workdir: Path) -> str:
    """Our own ssh_config (never ~/.ssh/config): empty, or a ProxyCommand through the bastion."""
    if connection.bastion is None:
        return "# empty: keep ~/.ssh/config out of validation connections\n"
    jump = connection.bastion
    key_file = jump.key.write_private_file(workdir, name="bastion-key")
    command = proxy_command(user=jump.user, host=jump.host, port=jump.port, key_file=key_file,
                            host_key=jump.host_key, target=(connection.host, connection.port),
                            error_file=workdir / RELAY_ERRORS, timeout=connection.connect_timeout)
    return f"Host *\n    ProxyCommand {shlex.join(command)}\n"


def _rootdir(anchor: Path) -> Path:
    """The project the suites live in (so test ids read tests/images/...), else their directory."""
    for directory in (anchor, *anchor.parents):
        if any((directory / marker).is_file() for marker in ("invoke.yaml", "tasks.py", "pyproject.toml")):
            return directory
    return anchor


def suite_environment(base: Mapping[str, str], env: Mapping[str, str], variables: Mapping[str, str],
                      connection: Connection) -> dict[str, str]:
    """The suites' environment: ours, the recipe's validate.env, and each variable as GOLDSMITH_VAR_*."""
    child = {k: v for k, v in base.items() if k not in _SCRUBBED and not k.startswith(VAR_PREFIX)}
    # Only testinfra's and our plugin (loaded by -p): whatever else is installed (hypothesis alone costs
    # ~1.8 s of start-up per suite run) is the project's business, not the image suites'.
    child.update({"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    child.update(env)
    child.update({VAR_PREFIX + name.upper(): value for name, value in variables.items()})
    child[VARS_ENV] = json.dumps(dict(variables))
    child[SSH_PORT_ENV] = str(connection.port)
    child[CLIENT_KEY_ENV] = connection.key.public_openssh()
    if connection.host_key:
        child[HOST_KEY_ENV] = connection.host_key
    else:
        child.pop(HOST_KEY_ENV, None)
    return child


def _run_pytest(command: list[str], env: dict[str, str], timeout: float, on_line: Callable[[str], None],
                cancel: CancelToken = NEVER) -> _Run:
    """Run pytest in its own process group; stream its lines; kill the group at the timeout, on Ctrl-C
    or when the run is cancelled."""
    run = _Run()
    proc: subprocess.Popen[bytes] | ForkedProcess | None = forkserver.spawn(command, env)
    if proc is None:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    reader = threading.Thread(target=_pump, args=(proc, on_line, run.tail), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    try:
        while (code := proc.poll()) is None:
            if time.monotonic() > deadline:
                run.timed_out = True
                _kill_group(proc)
                code = proc.wait()
                break
            cancel.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        run.exit_code = code
    finally:
        if proc.poll() is None:  # Ctrl-C or another error while waiting
            _kill_group(proc)
            proc.wait()
        reader.join(timeout=5)
    return run


def _pump(proc: subprocess.Popen[bytes] | ForkedProcess, on_line: Callable[[str], None], tail: list[str]) -> None:
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.decode("utf-8", "replace").rstrip("\n")
        tail.append(line)
        del tail[:-40]
        on_line(line)


def _kill_group(proc: subprocess.Popen[bytes] | ForkedProcess) -> None:
    """SIGTERM the suites' process group, then SIGKILL what is left after a moment."""
    for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _result(run: _Run, junit_path: Path, redact: Redactor, timeout: float) -> SuiteResult:
    summary = Summary()
    if junit_path.exists():
        junit_path.write_text(redact(junit_path.read_text(encoding="utf-8")), encoding="utf-8")
        summary = parse_junit(junit_path)
    failures = [Failure(f.test, redact(f.message), f.kind) for f in summary.failures]
    errors = summary.errors
    problem = _run_problem(run, summary, timeout)
    if problem:
        failures.append(Failure("pytest", redact(problem), "error"))
        errors += 1
    return SuiteResult(passed=summary.passed, failed=summary.failed, errors=errors, failures=failures,
                       junit_path=junit_path, skipped=summary.skipped, exit_code=run.exit_code,
                       timed_out=run.timed_out)


def _run_problem(run: _Run, summary: Summary, timeout: float) -> str:
    """Why the run as a whole failed, beyond individual tests ("" when it did not)."""
    if run.timed_out:
        return f"the suites did not finish within {timeout:g} s and were stopped"
    if run.exit_code == 5 or (run.exit_code == 0 and summary.total == 0):
        return "no tests were collected from the suites"
    if run.exit_code not in (0, 1):
        last = next((line for line in reversed(run.tail) if line.strip()), "")
        return f"pytest exited with status {run.exit_code}: {last}"
    if run.exit_code == 1 and summary.failed + summary.errors == 0:
        return "pytest reported a failure that its JUnit report does not show"
    return ""
