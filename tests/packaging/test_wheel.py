"""The wheel as a user gets it (fixture `installed`, tests/packaging/conftest.py): run from directories that
hold no tasks.py (the `goldsmith` console script) or a user's own tasks.py (`invoke`).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from tests.packaging.conftest import REPO, Installed
from tests.unit.test_tasks_collection import TASKS  # one list of the tasks for both suites


def _listed(stdout: str) -> set[str]:
    return {line.split()[0] for line in stdout.splitlines() if line.startswith("  ") and line[2] != " "}


def test_the_wheel_ships_the_tasks_in_the_package(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    assert {"goldsmith/tasks.py", "goldsmith/cli.py"} <= names
    assert "tasks.py" not in names


def test_the_venv_runs_the_wheels_goldsmith_not_the_checkout(installed: Installed) -> None:
    proc = installed.run([str(installed.venv / "bin" / "python"), "-c", "import goldsmith; print(goldsmith.__file__)"],
                         installed.elsewhere)
    assert proc.returncode == 0, proc.stderr
    where = Path(proc.stdout.strip()).resolve()
    assert where.is_relative_to(installed.venv.resolve()), where
    assert not where.is_relative_to(REPO)


def test_goldsmith_lists_the_tasks_anywhere(installed: Installed) -> None:
    proc = installed.goldsmith(["--list"])
    assert proc.returncode == 0, proc.stderr
    assert _listed(proc.stdout) == TASKS


def test_goldsmith_checks_a_recipe_by_absolute_path(installed: Installed) -> None:
    proc = installed.goldsmith(["check", str(installed.project / "recipes" / "base.yaml")])
    assert proc.returncode == 0, proc.stderr
    assert "ok" in proc.stdout


def test_goldsmith_bad_input_exits_2(installed: Installed) -> None:
    for args in (["check", str(installed.project / "recipes" / "missing.yaml")], ["check"], ["bake", "--nope"]):
        proc = installed.goldsmith(args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr


def test_goldsmith_reads_invoke_goldsmith_env_vars(installed: Installed) -> None:
    state = installed.elsewhere / "sandbox-state"
    proc = installed.goldsmith(["sandbox.status"], INVOKE_GOLDSMITH_SANDBOX_DIR=str(state))
    assert proc.returncode == 0, proc.stderr
    assert f"the sandbox in {state} is not running" in proc.stdout


def test_repository_tooling_tasks_say_they_need_a_checkout(installed: Installed) -> None:
    proc = installed.goldsmith(["docs"])
    assert proc.returncode == 2
    assert "needs a Goldsmith checkout" in proc.stderr


def test_a_users_tasks_py_imports_the_collection(installed: Installed) -> None:
    listed = installed.invoke(["--list"])
    assert listed.returncode == 0, listed.stderr
    assert _listed(listed.stdout) == TASKS
    checked = installed.invoke(["check", "recipes/base.yaml"])
    assert checked.returncode == 0, checked.stderr
    missing = installed.invoke(["check", "recipes/missing.yaml"])
    assert missing.returncode == 2, missing.stderr
    bad_flag = installed.invoke(["check", "recipes/base.yaml", "--nope"])
    assert bad_flag.returncode == 2, bad_flag.stderr
