"""The fast exit: a finished command skips CPython's teardown, and loses nothing by it.

Each case runs a real `invoke` process on a probe tasks.py that imports goldsmith.tasks (as every user's tasks.py
does). The probe holds a module-level object whose finaliser writes "teardown": it is seen only when the
interpreter tears its modules down, so its absence proves the teardown was skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from goldsmith.engine import fast_exit

REPO = Path(__file__).resolve().parents[2]

PROBE = '''
import atexit, sys, threading, time
from invoke import task
from invoke.exceptions import Exit
import goldsmith.tasks  # noqa: F401  installs the fast exit


class Teardown:
    def __del__(self):
        sys.stderr.write("teardown\\n")


SENTINEL = Teardown()


@task
def done(c):
    atexit.register(lambda: sys.stderr.write("atexit ran\\n"))
    sys.stdout.write("unflushed output")  # a pipe is block-buffered: lost unless flushed before _exit


@task
def fail(c):
    raise Exit("the recipe is wrong", code=3)


@task
def threaded(c):
    threading.Thread(target=lambda: (time.sleep(0.3), sys.stderr.write("thread done\\n"))).start()
'''


@pytest.fixture
def probe(tmp_path: Path) -> Path:
    (tmp_path / "tasks.py").write_text(PROBE)
    return tmp_path


def run(probe: Path, *args: str, command: tuple[str, ...] = (sys.executable, "-m", "invoke")
        ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([*command, "-r", str(probe), *args], capture_output=True, text=True, env=env,
                          timeout=60, check=False)


@pytest.mark.parametrize("command", [(sys.executable, "-m", "invoke"),
                                     (str(Path(sys.executable).with_name("invoke")),)], ids=["-m", "script"])
def test_finished_command_skips_teardown_but_runs_atexit_and_flushes(probe: Path, command: tuple[str, ...]) -> None:
    result = run(probe, "done", command=command)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "unflushed output"
    assert "atexit ran" in result.stderr
    assert "teardown" not in result.stderr


def test_exit_keeps_its_message_and_code(probe: Path) -> None:
    result = run(probe, "fail")
    assert result.returncode == 3
    assert result.stderr.strip() == "the recipe is wrong"


def test_a_running_thread_gets_the_normal_exit(probe: Path) -> None:
    result = run(probe, "threaded")
    assert result.returncode == 0
    assert "thread done" in result.stderr  # the thread finished: the process waited for it
    assert "teardown" in result.stderr  # ... through Python's own exit


def _run_python(code: str, probe: Path) -> subprocess.CompletedProcess[str]:
    """`python -c CODE PROBE_DIR` with this tree importable; it must succeed."""
    result = subprocess.run([sys.executable, "-c", code, str(probe)], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result


def test_a_program_run_from_other_code_exits_as_usual(probe: Path) -> None:
    """A test or library calling Program.run is not a command process: its interpreter is not cut short."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import tasks; from invoke import Program, Collection; "
            "Program(namespace=Collection.from_module(tasks)).run(['x', 'done'], exit=False); "
            "sys.stderr.write('after run\\n')")
    result = _run_python(code, probe)
    assert "after run" in result.stderr
    assert "teardown" in result.stderr


def test_a_wrapper_running_invoke_gets_control_back(probe: Path) -> None:
    """`coverage run -m invoke`, `python -m pyinstrument -m invoke`: the wrapper writes its results after invoke
    returns, so invoke must return (here a wrapper of our own, run the way those are)."""
    code = ("import runpy, sys\n"
            "sys.argv = ['invoke', '-r', sys.argv[1], 'done']\n"
            "try:\n    runpy.run_module('invoke', run_name='__main__', alter_sys=True)\n"
            "finally:\n    sys.stderr.write('wrapper saved its results\\n')\n")
    result = _run_python(code, probe)
    assert "wrapper saved its results" in result.stderr


def test_a_profiled_command_exits_as_usual(probe: Path, tmp_path: Path) -> None:
    profile = tmp_path / "invoke.prof"
    result = run(probe, "done", command=(sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "invoke"))
    assert result.returncode == 0, result.stderr
    assert profile.stat().st_size > 0  # cProfile writes it after invoke returns


@pytest.mark.parametrize(("orig_argv", "expected"), [
    (["python3", "/usr/local/bin/invoke", "bake"], True),
    (["python3", "-X", "importtime", "/usr/local/bin/inv", "check"], True),
    (["python3", "-u", "-m", "invoke", "check"], True),
    (["python3", "/root/.local/bin/goldsmith", "bake"], True),
    (["python3", "-m", "pyinstrument", "-m", "invoke", "bake"], False),
    (["python3", "/usr/bin/coverage", "run", "-m", "invoke"], False),
    (["python3", "/usr/bin/pytest"], False), (["python3", "-c", "import invoke"], False),
    (["python3", "goldsmith-helper"], False), (["python3"], False),
])
def test_launched_as_command_from_the_interpreter_command_line(orig_argv: list[str], expected: bool) -> None:
    assert fast_exit.launched_as_command(orig_argv) is expected
