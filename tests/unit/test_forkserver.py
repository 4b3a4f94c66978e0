"""The suites' fork server: pytest runs forked from one warm interpreter, each like a fresh `python -m pytest`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from goldsmith.validate import forkserver
from tests.processes import running

REPORT = '''
import os, sys
def test_report():
    print("REPORT", os.getppid(), os.getsid(0) == os.getpid(), os.environ.get("GS_MARK"), os.getcwd(),
          sys.dont_write_bytecode)
'''


@pytest.fixture(autouse=True)
def fresh_servers() -> Iterator[None]:
    forkserver._close_servers()
    yield
    servers = list(forkserver._servers.values())
    forkserver._close_servers()
    for server in servers:
        server.proc.wait(timeout=10)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST") and k != "PYTHONDONTWRITEBYTECODE"}
    return env | {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONUNBUFFERED": "1"} | extra


def _pytest(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", *args]


def _run(command: list[str], env: dict[str, str]) -> tuple[int, str]:
    proc = forkserver.spawn(command, env)
    assert proc is not None, "the fork server was not used"
    assert proc.stdout is not None
    output = proc.stdout.read().decode()
    return proc.wait(timeout=30), output


def _report(output: str) -> list[str]:
    return next(line for line in output.splitlines() if line.startswith("REPORT")).split()[1:]


def test_runs_are_forks_of_one_warm_server_with_the_callers_environment_and_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "test_report.py").write_text(REPORT)
    (tmp_path / "test_fails.py").write_text("def test_fails():\n    assert 1 + 1 == 3\n")
    monkeypatch.chdir(tmp_path)
    code, output = _run(_pytest("test_report.py"), _env(GS_MARK="first", PYTHONDONTWRITEBYTECODE="1"))
    assert code == 0, output
    server = next(iter(forkserver._servers.values()))
    assert _report(output) == [str(server.proc.pid), "True", "first", str(tmp_path), "True"]

    code, output = _run(_pytest("test_report.py"), _env(GS_MARK="second"))
    assert code == 0, output
    assert _report(output) == [str(server.proc.pid), "True", "second", str(tmp_path), "False"]
    assert len(forkserver._servers) == 1

    code, output = _run(_pytest("test_fails.py"), _env())
    assert code == 1
    assert "assert (1 + 1) == 3" in output  # assertion rewriting works in a fork as in a fresh process


def test_a_different_interpreter_setting_gets_a_server_of_its_own(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """PYTHONPATH is read when an interpreter starts, so a fork cannot take it from the request."""
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "gs_helper_module.py").write_text("VALUE = 42\n")
    (tmp_path / "test_path.py").write_text("def test_path():\n    import gs_helper_module\n"
                                           "    assert gs_helper_module.VALUE == 42\n")
    monkeypatch.chdir(tmp_path)
    assert _run(_pytest("test_path.py"), _env())[0] == 1  # not importable without it
    code, output = _run(_pytest("test_path.py"), _env(PYTHONPATH=str(lib)))
    assert code == 0, output
    assert len(forkserver._servers) == 2


def test_a_hung_run_can_be_timed_out_and_its_whole_group_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild"
    (tmp_path / "test_hangs.py").write_text(
        "import subprocess, time\n"
        "def test_hangs():\n"
        f"    p = subprocess.Popen(['sleep', '60']); open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "    time.sleep(60)\n")
    proc = forkserver.spawn(_pytest(str(tmp_path / "test_hangs.py")), _env())
    assert proc is not None
    deadline = time.monotonic() + 20
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    grandchild = int(pid_file.read_text())
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(timeout=0.2)
    assert proc.poll() is None
    os.killpg(proc.pid, signal.SIGKILL)  # what suites._kill_group does
    assert proc.wait(timeout=10) == -signal.SIGKILL
    time.sleep(0.2)
    assert not running(grandchild)


def test_when_goldsmith_goes_the_server_kills_its_runs_and_exits(tmp_path: Path) -> None:
    (tmp_path / "test_sleeps.py").write_text("import time\ndef test_sleeps():\n    time.sleep(60)\n")
    proc = forkserver.spawn(_pytest(str(tmp_path / "test_sleeps.py")), _env())
    assert proc is not None
    server = next(iter(forkserver._servers.values()))
    time.sleep(0.5)
    assert running(proc.pid)
    server.close()  # what happens when the process holding the control socket ends
    assert server.proc.returncode == 0
    deadline = time.monotonic() + 5
    while running(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(proc.pid)
    assert proc.wait(timeout=5) == -signal.SIGKILL  # no status came: reported as killed


def test_a_caller_that_gives_up_on_a_run_gets_it_killed(tmp_path: Path) -> None:
    (tmp_path / "test_sleeps.py").write_text("import time\ndef test_sleeps():\n    time.sleep(60)\n")
    proc = forkserver.spawn(_pytest(str(tmp_path / "test_sleeps.py")), _env())
    assert proc is not None
    time.sleep(0.3)
    proc._channel.close()
    deadline = time.monotonic() + 5
    while running(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(proc.pid)


def test_only_python_m_pytest_is_forked() -> None:
    assert forkserver.spawn(["echo", "hi"], _env()) is None
    assert forkserver.spawn(["/usr/bin/python3", "-m", "pytest"], _env()) is None or sys.executable == \
        "/usr/bin/python3"
    assert not forkserver._servers


def test_a_warmed_up_server_serves_the_next_run_and_holds_none_of_its_variables(tmp_path: Path) -> None:
    (tmp_path / "test_report.py").write_text(REPORT)
    forkserver.warm_up(_env())
    [server] = forkserver._servers.values()
    code, output = _run(_pytest(str(tmp_path / "test_report.py")), _env(GS_MARK="s3cr3t-value"))
    assert code == 0, output
    assert _report(output)[:3] == [str(server.proc.pid), "True", "s3cr3t-value"]
    assert list(forkserver._servers.values()) == [server]
    assert b"s3cr3t-value" not in Path(f"/proc/{server.proc.pid}/environ").read_bytes()
