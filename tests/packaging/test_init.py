"""`goldsmith init` from the wheel, in a fresh virtualenv: the scaffold ships in the package, and its example
recipe checks and bakes in the sandbox as the user would run it (`goldsmith init DIR && cd DIR && goldsmith
check recipes/example.yaml && goldsmith bake recipes/example.yaml`)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from goldsmith.adopt.scaffold import FILES
from tests.packaging.conftest import Installed


def test_the_wheel_ships_the_scaffold(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    templates = {f"goldsmith/adopt/scaffold/{t}" for t in FILES.values() if t is not None}
    assert templates <= names, templates - names


@pytest.mark.sandbox
def test_init_check_and_bake_from_the_wheel(installed: Installed, sandbox: Any, sandbox_dir: Path,
                                            tmp_path: Path) -> None:
    project = tmp_path / "x"
    made = installed.goldsmith(["init", str(project)])
    assert made.returncode == 0, made.stderr
    checked = installed.goldsmith(["check", "recipes/example.yaml"], cwd=project)
    assert checked.returncode == 0, checked.stderr
    # The sandbox this session runs (its credentials and endpoint come from its state dir), no build cache.
    env = {"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir), "INVOKE_GOLDSMITH_CACHE": "false",
           "INVOKE_GOLDSMITH_PLAIN": "true"}
    baked = installed.goldsmith(["bake", "recipes/example.yaml"], cwd=project, timeout=900, **env)
    assert baked.returncode == 0, baked.stdout[-3000:] + baked.stderr[-3000:]
    assert "baked example-0.1.0-" in baked.stdout
    (manifest,) = (project / ".goldsmith" / "manifests").glob("*.json")
    build = json.loads(manifest.read_text())["builds"][-1]
    assert build["artifact_id"].startswith("us-east-1:ami-"), build
    assert build["validation"]["passed"] == 1, build["validation"]  # the starter suite's one test, on the image


def test_import_packer_from_the_wheel(installed: Installed, tmp_path: Path) -> None:
    """The wheel's import-packer reads HCL2 (python-hcl2 is a dependency) and writes a recipe that checks."""
    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "packer"
    project = tmp_path / "p"
    project.mkdir()
    (project / "tasks.py").write_text("from goldsmith.tasks import ns\n")
    template = project / "basic.pkr.hcl"
    template.write_text((fixtures / "basic.pkr.hcl").read_text())
    proc = installed.goldsmith(["import-packer", str(template), "--output", "recipes/app.yaml"], cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert f"not converted: {template}:" in proc.stderr
    checked = installed.goldsmith(["check", "recipes/app.yaml"], cwd=project)
    assert checked.returncode == 0, checked.stderr
