"""The task collection ships in the package (goldsmith.tasks): the repository's tasks.py only imports it,
the `goldsmith` console script bundles it, and the `goldsmith` config section's defaults live in it alone."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from invoke.collection import Collection
from invoke.config import Config
from invoke.context import Context

import goldsmith.tasks
from goldsmith.commands import Settings
from goldsmith.tasks import DEFAULTS, _settings, ns

REPO = Path(__file__).resolve().parents[2]
TASKS = {"bake", "check", "init", "import-packer", "report", "clean", "share", "copy", "validate", "promote",
         "rollback", "images", "prune", "diff", "lint", "test", "bench", "docs", "pipeline.run", "pipeline.export",
         "sandbox.up", "sandbox.down",
         "sandbox.status", "sandbox.env", "sandbox.endpoint"}
GOLDSMITH = "import sys; from goldsmith.cli import main; sys.argv[0] = 'goldsmith'; main()"


def _env(**extra: str) -> dict[str, str]:
    """This environment without INVOKE_GOLDSMITH_* settings, with the checkout importable from anywhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_")}
    return {**env, "PYTHONPATH": str(REPO), **extra}


def _goldsmith(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", GOLDSMITH, *args], cwd=cwd, env=_env(**env),
                          capture_output=True, text=True, timeout=60, check=False)


def _listed(stdout: str) -> set[str]:
    """The task names of `--list` output (names are indented by two spaces; wrapped help lines by more)."""
    return {line.split()[0] for line in stdout.splitlines() if line.startswith("  ") and line[2] != " "}


def _context(config_dir: Path | None = None) -> Context:
    """A Context configured as invoke configures one: collection defaults, project file, then env."""
    config = Config(project_location=config_dir)
    config.load_project()
    config.load_collection(ns.configuration())
    config.load_shell_env()
    return Context(config)


def test_the_collection_has_every_task() -> None:
    assert set(ns.task_names) == TASKS


def test_the_repository_tasks_py_exposes_the_packages_collection() -> None:
    spec = importlib.util.spec_from_file_location("goldsmith_repo_tasks", REPO / "tasks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.ns is goldsmith.tasks.ns
    assert module.__all__ == ["ns"]
    assert set(Collection.from_module(module).task_names) == TASKS


def test_defaults_live_in_the_collection_only() -> None:
    assert ns.configuration()["goldsmith"] == dict(DEFAULTS)
    # Every setting has a key, so INVOKE_GOLDSMITH_<KEY> reaches it (invoke maps env vars onto known keys).
    assert set(DEFAULTS) == {field.name for field in dataclasses.fields(Settings)}
    # The repository's invoke.yaml only documents overrides: no second copy of the defaults.
    assert not yaml.safe_load((REPO / "invoke.yaml").read_text())


def test_the_tasks_read_the_collections_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in DEFAULTS:
        monkeypatch.delenv(f"INVOKE_GOLDSMITH_{key.upper()}", raising=False)
    settings = _settings(_context())
    assert settings.target == DEFAULTS["target"] == "sandbox"
    assert settings.work_dir == Path(DEFAULTS["work_dir"])
    assert (settings.region, settings.profile, settings.sandbox_dir, settings.plain) == (None, None, None, None)
    assert settings.cache is True  # the build cache is on unless turned off
    assert _settings(_context(), target="aws", region="eu-west-1").target == "aws"  # flags win


def test_env_vars_and_a_project_invoke_yaml_override_the_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "invoke.yaml").write_text("goldsmith:\n  target: aws\n  profile: from-yaml\n  work_dir: /w\n")
    monkeypatch.setenv("INVOKE_GOLDSMITH_PROFILE", "from-env")
    monkeypatch.setenv("INVOKE_GOLDSMITH_REGION", "eu-west-1")
    monkeypatch.setenv("INVOKE_GOLDSMITH_SANDBOX_DIR", str(tmp_path / "sbx"))
    monkeypatch.setenv("INVOKE_GOLDSMITH_PLAIN", "false")
    monkeypatch.delenv("INVOKE_GOLDSMITH_CACHE", raising=False)  # the sandbox tests' session turns it off
    settings = _settings(_context(tmp_path))
    assert settings == Settings(target="aws", region="eu-west-1", profile="from-env", work_dir=Path("/w"),
                                sandbox_dir=tmp_path / "sbx", plain=False, cache=True)
    monkeypatch.setenv("INVOKE_GOLDSMITH_PLAIN", "1")
    assert _settings(_context(tmp_path)).plain is True
    monkeypatch.setenv("INVOKE_GOLDSMITH_CACHE", "false")
    assert _settings(_context(tmp_path)).cache is False


def test_goldsmith_lists_the_tasks_from_a_directory_without_tasks_py(tmp_path: Path) -> None:
    proc = _goldsmith(["--list"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert _listed(proc.stdout) == TASKS


def test_goldsmith_checks_a_recipe_given_by_absolute_path_from_elsewhere(tmp_path: Path) -> None:
    proc = _goldsmith(["check", str(REPO / "recipes" / "base.yaml")], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "ok" in proc.stdout


@pytest.mark.parametrize("args", [["check"], ["check", "--no-such-flag", "x.yaml"], ["check", "missing.yaml"],
                                  ["no-such-task"]])
def test_goldsmith_bad_arguments_exit_2(tmp_path: Path, args: list[str]) -> None:
    proc = _goldsmith(args, tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    if args != ["check", "missing.yaml"]:  # argument mistakes point at the program that was run
        assert "(see `goldsmith --help <task>`)" in proc.stderr


def test_goldsmith_reads_the_nearest_project_invoke_yaml_and_env_wins(tmp_path: Path) -> None:
    (tmp_path / "invoke.yaml").write_text(f"goldsmith:\n  sandbox_dir: {tmp_path / 'from-yaml'}\n")
    (tmp_path / "sub").mkdir()
    proc = _goldsmith(["sandbox.status"], tmp_path / "sub")
    assert proc.returncode == 0, proc.stderr
    assert str(tmp_path / "from-yaml") in proc.stdout
    proc = _goldsmith(["sandbox.status"], tmp_path / "sub", INVOKE_GOLDSMITH_SANDBOX_DIR=str(tmp_path / "env"))
    assert str(tmp_path / "env") in proc.stdout


def test_invoke_in_the_repository_lists_every_task() -> None:
    proc = subprocess.run([sys.executable, "-m", "invoke", "--list"], cwd=REPO, env=_env(), capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert _listed(proc.stdout) == TASKS


def test_repository_tasks_run_in_the_checkout() -> None:
    assert goldsmith.tasks._checkout() == str(REPO)  # shlex-quoted: REPO has no special characters here
