"""`invoke pipeline.export --format github-actions`: actionlint passes, `needs:` is the pipeline's graph, each job
builds on its upstream jobs' images (--use), and `invoke pipeline --use` pins an upstream recipe."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from goldsmith.commands import PipelineRequest, Settings, export_pipeline, pipeline
from goldsmith.errors import InputError, RecipeError
from goldsmith.pipeline.export import default_install, job_id
from goldsmith.pipeline.pins import apply_pins, parse_uses
from goldsmith.pipeline.record import RecipeRun, RunRecord
from goldsmith.pipeline.run import PipelineOptions, new_record, run_manifest
from goldsmith.recipe.pipeline_loader import LoadedPipeline, load_pipeline
from tests.sandbox.pipeline_project import make_project

REPO = Path(__file__).resolve().parents[2]
SETTINGS = Settings(target="sandbox", work_dir=Path(".goldsmith"))
AMI = "ami-0123456789abcdef0"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


def _actionlint(path: Path) -> None:
    binary = shutil.which("actionlint")
    if binary is None:
        pytest.fail("actionlint is not installed: it comes with the dev extras (pip install -e '.[dev]')")
    proc = subprocess.run([binary, "-no-color", str(path)], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _export(pipeline_path: Path, tmp_path: Path, **kwargs: Any) -> dict[str, Any]:
    out = tmp_path / "workflows" / f"{pipeline_path.stem}.yml"
    text = export_pipeline(str(pipeline_path), "github-actions", SETTINGS, output=str(out), **kwargs)
    assert out.read_text() == text
    _actionlint(out)
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def _needs(workflow: dict[str, Any]) -> dict[str, set[str]]:
    """Each job's `needs`, as recipe names."""
    names = {job_id(name): name for name in (j.removeprefix("bake-") for j in workflow["jobs"])}
    assert set(names) == set(workflow["jobs"])
    result = {}
    for job, spec in workflow["jobs"].items():
        needs = spec.get("needs", [])
        result[names[job]] = {names[n] for n in ([needs] if isinstance(needs, str) else needs)}
    return result


def _graph(loaded: LoadedPipeline) -> dict[str, set[str]]:
    return {name: set(member.needs) for name, member in loaded.members.items()}


def _bake_step(job: dict[str, Any]) -> dict[str, Any]:
    (step,) = [s for s in job["steps"] if str(s.get("name", "")).startswith("Bake ")]
    return step  # type: ignore[no-any-return]


def test_release_exports_a_workflow_actionlint_accepts_with_the_pipelines_graph(tmp_path: Path) -> None:
    path = REPO / "pipelines" / "release.yaml"
    workflow = _export(path, tmp_path)
    assert _needs(workflow) == _graph(load_pipeline(path, environ={})) == {"base": set(), "hardened": {"base"},
                                                                            "web": {"hardened"}}
    assert workflow["permissions"] == {"id-token": "write", "contents": "read"}
    assert workflow["on"] == {"workflow_dispatch": None}  # quoted: YAML 1.1 readers take a bare `on` for true
    web = workflow["jobs"]["bake-web"]
    step = _bake_step(web)
    # web bakes alone, with the pipeline's own overrides, on the image hardened's job produced in this run.
    assert step["run"].startswith("goldsmith pipeline pipelines/release.yaml --only web --target aws ")
    assert '--use "hardened=$USE_HARDENED"' in step["run"]
    assert step["env"] == {"USE_HARDENED": "${{ needs.bake-hardened.outputs.ami }}"}
    assert web["outputs"]["ami"] == "${{ steps.image.outputs.ami }}"
    steps = {s.get("uses", "").split("@")[0]: s for s in web["steps"] if "uses" in s}
    assert steps["aws-actions/configure-aws-credentials"]["with"] == {
        "role-to-assume": "${{ vars.AWS_ROLE_ARN }}", "aws-region": "${{ vars.AWS_REGION }}"}
    upload = steps["actions/upload-artifact"]
    assert upload["if"] == "always()" and "goldsmith-manifests/web.json" in upload["with"]["path"]
    assert ".goldsmith/keys" not in upload["with"]["path"]
    assert web["steps"][2]["run"] == "pip install -e ."  # this repository is a Goldsmith checkout


def test_two_independent_roots_start_at_once_and_join(project: Path, tmp_path: Path) -> None:
    path = project / "pipelines" / "two.yaml"
    path.write_text("name: two\nrecipes:\n  - recipe: side\n  - recipe: root\n  - recipe: mid\n    after: [side]\n"
                    "  - recipe: leaf\n")
    workflow = _export(path, tmp_path, install="pip install goldsmith==0.1.0")
    assert _needs(workflow) == _graph(load_pipeline(path, environ={}))
    assert _needs(workflow) == {"side": set(), "root": set(), "mid": {"root", "side"}, "leaf": {"mid"}}
    mid = _bake_step(workflow["jobs"]["bake-mid"])
    # Every recipe mid waits for is pinned, so its job bakes mid alone (side through `after`, root as its source).
    assert '--use "root=$USE_ROOT"' in mid["run"] and '--use "side=$USE_SIDE"' in mid["run"]
    assert mid["run"].startswith("goldsmith pipeline pipelines/two.yaml --only mid ")  # relative to the project
    assert workflow["jobs"]["bake-side"]["steps"][2]["run"] == "pip install goldsmith==0.1.0"


def test_install_is_editable_in_a_goldsmith_checkout_else_the_release(project: Path) -> None:
    assert default_install(REPO) == "pip install -e ."
    assert default_install(project).startswith("pip install goldsmith==")
    (project / "pyproject.toml").write_text('[project]\nname = "my-images"\n')
    assert default_install(project).startswith("pip install goldsmith==")


def test_secret_variables_come_from_repository_secrets(project: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = project / "recipes" / "side.yaml"
    recipe.write_text(recipe.read_text().replace("variables:\n", "variables:\n  token: {secret: true}\n", 1))
    monkeypatch.setenv("GOLDSMITH_VAR_TOKEN", "s3cret")  # exporting loads the recipes, as `check` does
    path = project / "pipelines" / "side.yaml"
    path.write_text("name: side\nrecipes:\n  - recipe: side\n")
    workflow = _export(path, tmp_path)
    step = _bake_step(workflow["jobs"]["bake-side"])
    assert step["env"] == {"GOLDSMITH_VAR_TOKEN": "${{ secrets.GOLDSMITH_VAR_TOKEN }}"}
    assert "s3cret" not in json.dumps(workflow)


def _image_step(step: dict[str, Any], cwd: Path, manifest: dict[str, Any],
                **env: str) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Run the job's image step on this run manifest, as the runner would; returns it and its outputs."""
    (cwd / "goldsmith-manifests").mkdir(exist_ok=True)
    (cwd / "goldsmith-manifests" / "mid.json").write_text(json.dumps(manifest))
    outputs = cwd / "outputs"
    outputs.write_text("")
    proc = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=cwd, capture_output=True, text=True, check=False,
                          env={"GITHUB_OUTPUT": str(outputs), "PATH": "/usr/bin:/bin", **env})
    return proc, dict(line.split("=", 1) for line in outputs.read_text().splitlines())


def test_the_image_step_reads_the_ami_from_a_run_manifest(project: Path, tmp_path: Path) -> None:
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed here (GitHub's runners have it)")
    workflow = _export(project / "pipelines" / "family.yaml", tmp_path)
    (step,) = [s for s in workflow["jobs"]["bake-mid"]["steps"] if s.get("id") == "image"]
    images = {"us-east-1": "ami-0aaaaaaaaaaaaaaaa", "us-west-2": "ami-0bbbbbbbbbbbbbbbb"}
    record = RunRecord("family-1", "family", "pipelines/family.yaml", recipes={
        "root": RecipeRun("root", status="reused", region="us-east-1", images={"us-east-1": AMI}),
        "mid": RecipeRun("mid", status="baked", region="us-east-1", images=dict(images),
                         entry={"recipe": "mid", "region": "us-east-1",
                                "artifacts": {r: {"ami_id": ami} for r, ami in images.items()}}),
    })
    proc, outputs = _image_step(step, tmp_path, run_manifest(record))
    assert proc.returncode == 0, proc.stderr
    assert outputs["ami"] == "ami-0aaaaaaaaaaaaaaaa" and json.loads(outputs["images"]) == images
    # Reused without a build entry: its image in the build region (AWS_REGION, set by the credentials step).
    reused = {"builds": [], "recipes": {"mid": {"images": images}}}
    proc, outputs = _image_step(step, tmp_path, reused, AWS_REGION="us-west-2")
    assert proc.returncode == 0 and outputs["ami"] == "ami-0bbbbbbbbbbbbbbbb", proc.stderr
    proc, outputs = _image_step(step, tmp_path, {"builds": [], "recipes": {}})
    assert proc.returncode == 1 and "::error::no image of mid" in proc.stdout and "ami" not in outputs


def test_bad_format_and_a_pipeline_with_mistakes_exit_2(project: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"--format gitlab: unknown format .*known: github-actions"):
        export_pipeline(str(project / "pipelines" / "family.yaml"), "gitlab", SETTINGS)
    bad = project / "pipelines" / "bad.yaml"
    bad.write_text("name: bad\nrecipes:\n  - recipe: leaf\n")  # its source (mid) is not in the pipeline
    with pytest.raises(RecipeError, match=r"bad.yaml:3:13: .*not in this pipeline"):
        export_pipeline(str(bad), "github-actions", SETTINGS)
    with pytest.raises(InputError, match="is a directory"):
        export_pipeline(str(project / "pipelines" / "family.yaml"), "github-actions", SETTINGS, output=str(tmp_path))
    for args, message in ((["--format", "gh"], "unknown format"), ([], "not in this pipeline")):
        target = project / "pipelines" / ("family.yaml" if args else "bad.yaml")
        proc = subprocess.run([sys.executable, "-m", "invoke", "pipeline.export", str(target), *args], cwd=REPO,
                              capture_output=True, text=True, timeout=120, check=False,
                              env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_use_pins_an_upstream_so_only_the_selected_recipe_bakes(project: Path) -> None:
    loaded = load_pipeline(project / "pipelines" / "family.yaml", environ={})
    record = new_record(loaded, PipelineOptions(only=("leaf",)))
    apply_pins(record, loaded, ("leaf",), parse_uses([f"mid={AMI}"], loaded, ("leaf",)), "us-east-1")
    statuses = {n: (r.status, r.reason) for n, r in record.recipes.items()}
    assert statuses["root"] == ("skipped", "not selected (--only)")  # only mid needed it, and mid is given
    assert statuses["mid"] == ("reused", f"given: --use mid={AMI}") and record.recipes["mid"].image_id == AMI
    assert statuses["leaf"] == ("pending", "")


@pytest.mark.parametrize(("arg", "only", "message"), [
    ("mid", (), "give RECIPE=AMI"),
    ("mdi=ami-0123456789abcdef0", (), "no recipe 'mdi' .*did you mean 'mid'"),
    ("mid=ami-xyz", (), "'ami-xyz' is not an AMI id"),
    ("leaf=ami-0123456789abcdef0", ("leaf",), "either baked or given"),
])
def test_bad_use_is_bad_input(project: Path, arg: str, only: tuple[str, ...], message: str) -> None:
    loaded = load_pipeline(project / "pipelines" / "family.yaml", environ={})
    with pytest.raises(InputError, match=message):
        parse_uses([arg], loaded, only)


def test_plan_shows_the_pinned_image(project: Path) -> None:
    lines: list[str] = []
    request = PipelineRequest(path=str(project / "pipelines" / "family.yaml"), only=("leaf",), plan=True,
                              use=(f"mid={AMI}",))
    # The build cache off: a plan without it asks no AWS (a unit test starts no sandbox).
    assert pipeline(request, dataclasses.replace(SETTINGS, cache=False), report=lines.append) == 0
    (table,) = lines
    assert f"mid   REUSE {AMI}" in table and "root  SKIP" in table and "leaf  BAKE" in table
