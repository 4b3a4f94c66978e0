"""The wheel as a user gets it, shared by tests/packaging: built from this checkout, installed into a fresh
virtualenv (once per session), and run from directories that hold no tasks.py or a user's own tasks.py.

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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

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

    def run(self, args: list[str], cwd: Path, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("INVOKE_", "PYTHON"))}
        return subprocess.run(args, cwd=cwd, env={**clean, **env}, capture_output=True, text=True, timeout=timeout,
                              check=False)

    def goldsmith(self, args: list[str], cwd: Path | None = None, timeout: float = 120,
                  **env: str) -> subprocess.CompletedProcess[str]:
        return self.run([str(self.venv / "bin" / "goldsmith"), *args], cwd or self.elsewhere, timeout, **env)

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


@pytest.fixture(scope="session")
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
