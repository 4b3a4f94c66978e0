"""`goldsmith init`: the scaffold is complete and checks clean, its workflow passes actionlint, and it never
overwrites anything (bad directories exit 2 and write nothing)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from goldsmith.adopt.scaffold import FILES, init
from goldsmith.commands import check
from goldsmith.errors import InputError
from tests.unit.test_pipeline_export import _actionlint
from tests.unit.test_tasks_collection import _goldsmith


def test_init_writes_a_project_whose_recipe_and_pipeline_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "new" / "project"  # parents are created
    result = init(project)
    assert result.written == list(FILES) and result.skipped == []
    assert sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file()) == sorted(FILES)
    assert "from goldsmith.tasks import ns" in (project / "tasks.py").read_text()
    assert "/.goldsmith/" in (project / ".gitignore").read_text().splitlines()
    assert os.access(project / "provisioners" / "example.sh", os.X_OK)
    for directory in ("templates", "files"):
        assert (project / directory).is_dir()
    monkeypatch.chdir(project)  # recipes name their files relative to the project root
    assert "ok — example" in check("recipes/example.yaml", [])
    assert "ok — pipeline example: example" in check("pipelines/example.yaml", [])
    recipe = yaml.safe_load((project / "recipes" / "example.yaml").read_text())
    assert "data" not in recipe.get("volumes", {}) and len(recipe["provision"]) == 1  # quick to bake


def test_the_workflow_checks_on_pull_requests_and_bakes_on_main_with_oidc(tmp_path: Path) -> None:
    init(tmp_path)
    path = tmp_path / ".github" / "workflows" / "goldsmith.yml"
    _actionlint(path)
    text = path.read_text()
    assert "&id" not in text  # no YAML anchors: people read and edit this file
    workflow = yaml.safe_load(text)
    assert workflow["on"] == {"pull_request": None, "push": {"branches": ["main"]}}
    assert workflow["permissions"] == {"contents": "read"}  # OIDC only where it bakes
    check_job, bake_job = workflow["jobs"]["check"], workflow["jobs"]["bake"]
    assert "goldsmith check" in check_job["steps"][-1]["run"]
    assert "configure-aws-credentials" not in str(check_job) and "permissions" not in check_job
    assert bake_job["needs"] == ["check"] and "refs/heads/main" in bake_job["if"]
    assert bake_job["permissions"]["id-token"] == "write"
    steps = {step.get("name"): step for step in bake_job["steps"]}
    assert steps["AWS credentials (OIDC)"]["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"
    assert "--target aws --manifest goldsmith-manifests/example.json" in steps["Bake pipeline example"]["run"]
    upload = steps["Upload the manifest"]
    assert upload["if"] == "always()" and "goldsmith-manifests/example.json" in upload["with"]["path"]


def test_init_never_overwrites_and_lists_what_it_skipped(tmp_path: Path) -> None:
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "example.yaml").write_text("mine\n")
    (tmp_path / "tasks.py").symlink_to(tmp_path / "nowhere.py")  # dangling: never written through
    result = init(tmp_path)
    assert result.skipped == ["tasks.py", "recipes/example.yaml"]
    assert (tmp_path / "recipes" / "example.yaml").read_text() == "mine\n"
    assert not (tmp_path / "nowhere.py").exists()
    summary = result.summary()
    assert "skipped tasks.py" in summary and "skipped recipes/example.yaml" in summary
    assert "wrote   invoke.yaml" in summary


@pytest.mark.parametrize("make", ["file", "recipes-file", "workflow-dir"])
def test_a_path_that_cannot_hold_the_scaffold_is_bad_input_and_nothing_is_written(tmp_path: Path, make: str) -> None:
    target = tmp_path / "project"
    if make == "file":
        target.write_text("x")
        expected = f"{target}: not a directory"
    elif make == "recipes-file":
        target.mkdir()
        (target / "recipes").write_text("x")
        expected = f"{target / 'recipes'}: not a directory"
    else:
        (target / ".github" / "workflows" / "goldsmith.yml").mkdir(parents=True)
        expected = "a directory, but goldsmith init writes a file there"
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    with pytest.raises(InputError, match=expected):
        init(target)
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


def test_goldsmith_init_exits_2_on_a_file_and_on_a_project_with_every_file(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    proc = _goldsmith(["init", str(tmp_path / "a-file")], cwd=tmp_path)
    assert proc.returncode == 2 and "a-file: not a directory" in proc.stderr, proc.stderr
    first = _goldsmith(["init", "project"], cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "wrote   recipes/example.yaml" in first.stdout
    again = _goldsmith(["init", "project"], cwd=tmp_path)
    assert again.returncode == 2 and "nothing written" in again.stderr
    assert "Traceback" not in again.stderr


def test_invoke_init_is_the_same_task(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-m", "invoke", "init", str(tmp_path / "p")], cwd=repo,
                          env={**os.environ, "PYTHONPATH": str(repo)}, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "p" / "recipes" / "example.yaml").is_file()
