"""The exported workflow's jobs, run here one after the other as GitHub would run them (sandbox instead of
--target aws): each job bakes its recipe alone, on the image the upstream job's outputs name."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from goldsmith.commands import Settings, export_pipeline
from tests.sandbox.helpers import REPO
from tests.sandbox.pipeline_project import make_project

pytestmark = pytest.mark.sandbox


def _run_job(job: dict[str, Any], project: Path, work: Path, outputs: dict[str, dict[str, str]],
             env: dict[str, str]) -> dict[str, str]:
    """The job's bake and image steps in bash, with its `needs` outputs in env; returns its outputs."""
    output_file = work / "github-output"
    output_file.write_text("")
    for step in job["steps"]:
        if "run" not in step or step["run"].startswith("pip install"):
            continue  # set-up steps; Goldsmith is importable here already
        step_env = dict(env)
        for name, value in step.get("env", {}).items():  # ${{ needs.bake-X.outputs.ami }}
            upstream = value.split("needs.")[1].split(".outputs.")[0]
            step_env[name] = outputs[upstream]["ami"]
        script = step["run"].replace("--target aws", "--target sandbox")
        proc = subprocess.run(["bash", "-e", "-c", script], cwd=project, env={**step_env, "GITHUB_OUTPUT":
                              str(output_file)}, capture_output=True, text=True, timeout=600, check=False)
        assert proc.returncode == 0, (step.get("name"), proc.stdout[-3000:], proc.stderr[-3000:])
    return dict(line.split("=", 1) for line in output_file.read_text().splitlines())


def test_each_job_bakes_its_recipe_on_the_upstream_jobs_image(sandbox: Any, sandbox_dir: Path,
                                                              sandbox_client: Any, tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    path = project / "pipelines" / "pair.yaml"
    path.write_text("name: pair\nrecipes:\n  - recipe: root\n  - recipe: mid\n")
    text = export_pipeline(str(path), "github-actions", Settings(target="aws", work_dir=Path(".goldsmith")))
    jobs = yaml.safe_load(text)["jobs"]
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("INVOKE_")}, "PYTHONPATH": str(REPO),
           "INVOKE_GOLDSMITH_PLAIN": "true",
           "GOLDSMITH_SANDBOX_DIR": str(sandbox_dir)}
    outputs: dict[str, dict[str, str]] = {}
    runs = len(sandbox_client.requests(action="RunInstances"))
    for job in ("bake-root", "bake-mid"):  # the order `needs:` gives
        outputs[job] = _run_job(jobs[job], project, tmp_path, outputs, env)
    assert outputs["bake-root"]["ami"].startswith("ami-") and outputs["bake-mid"]["ami"].startswith("ami-")
    manifest = yaml.safe_load((project / "goldsmith-manifests" / "mid.json").read_text())
    (build,) = manifest["builds"]  # mid alone: root was given with --use, not baked again
    assert build["recipe"] == "mid" and build["source_ami"] == outputs["bake-root"]["ami"]
    assert manifest["recipes"]["root"]["status"] == "reused"
    # Two bakes in all, each a build and a validation instance.
    assert len(sandbox_client.requests(action="RunInstances")) - runs == 4
