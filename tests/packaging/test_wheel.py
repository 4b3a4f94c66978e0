"""The wheel as a user gets it: built from this checkout, installed into a fresh virtualenv, and run from
directories that hold no tasks.py (the `goldsmith` console script) or a user's own tasks.py (`invoke`).

The venv sees the system's site-packages for the dependencies (boto3, paramiko, pydantic... are not
installed again), but goldsmith itself is the wheel's, installed into the venv, never the checkout.
Builds offline when the installed setuptools can (--no-build-isolation), else in pip's isolated build
environment. About 5 to 15 s.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.unit.test_tasks_collection import TASKS  # one list of the tasks for both suites

REPO = Path(__file__).resolve().parents[2]
# What a build may read besides the package; the rest of the checkout (tests, .git, caches) stays out.
BUILD_INPUTS = ("pyproject.toml", "setup.py", "setup.cfg", "MANIFEST.in", "README.md", "LICENSE")
PROJECT_DIRS = ("recipes", "provisioners", "templates", "files", "tests/images")


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    project: Path  # a user's project: the example recipes and their files, and a tasks.py
    elsewhere: Path  # a directory with no tasks.py and no invoke.yaml, as cwd

    def run(self, args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("INVOKE_", "PYTHON"))}
        return subprocess.run(args, cwd=cwd, env={**clean, **env}, capture_output=True, text=True, timeout=120,
                              check=False)

    def goldsmith(self, args: list[str], cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
        return self.run([str(self.venv / "bin" / "goldsmith"), *args], cwd or self.elsewhere, **env)

    def invoke(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        return self.run([str(self.venv / "bin" / "python"), "-m", "invoke", *args], self.project)


def _build_wheel(out: Path, tmp: Path) -> Path:
    """Build from a copy of the checkout, so the build's build/ and *.egg-info land there, not here."""
    source = tmp / "source"
    shutil.copytree(REPO / "goldsmith", source / "goldsmith", ignore=shutil.ignore_patterns("__pycache__"))
    for name in BUILD_INPUTS:
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, source / name)
    base = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q", "-w", str(out)]
    offline = subprocess.run([*base, "--no-build-isolation", str(source)], capture_output=True, text=True,
                             timeout=300, check=False)
    if offline.returncode != 0:  # e.g. setuptools < 70.1 without the `wheel` package: let pip fetch the backend
        isolated = subprocess.run([*base, str(source)], capture_output=True, text=True, timeout=300, check=False)
        assert isolated.returncode == 0, f"{offline.stderr}\n{isolated.stderr}"
    (wheel,) = out.glob("goldsmith-*.whl")
    return wheel


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    tmp = tmp_path_factory.mktemp("wheel")
    wheel = _build_wheel(tmp / "dist", tmp)
    venv = tmp / "venv"
    # --without-pip: the system's pip (seen through --system-site-packages) installs into the venv.
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                   check=True, timeout=120)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "--no-deps", "--force-reinstall", "--no-index", str(wheel)], check=True, timeout=120,
                   capture_output=True)
    project = tmp / "project"
    for name in PROJECT_DIRS:
        shutil.copytree(REPO / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    (project / "tasks.py").write_text('"""My tasks: Goldsmith\'s."""\n\nfrom goldsmith.tasks import ns\n')
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    yield Installed(wheel, venv, project, elsewhere)


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
