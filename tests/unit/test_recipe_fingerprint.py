"""fingerprint: changes exactly when something the bake depends on changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from goldsmith.recipe.fingerprint import fingerprint, referenced_files
from goldsmith.recipe.loader import load_recipe

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the fixture project, so files can be changed."""
    root = tmp_path / "project"
    shutil.copytree(FIXTURES, root, ignore=shutil.ignore_patterns("bad", "__pycache__"))
    return root


def fp(root: Path, cli: dict[str, str] | None = None) -> str:
    return fingerprint(load_recipe(root / "good" / "full.yaml", cli or {"token": "t1"}, environ={}))


def test_referenced_files() -> None:
    loaded = load_recipe(FIXTURES / "good" / "full.yaml", {"token": "t"}, environ={})
    assert referenced_files(loaded) == [
        "files/hello.txt", "provisioners/setup.sh", "suites", "suites/smoke.py", "templates/app.conf.j2",
        "templates/motd.j2",
    ]
    child = load_recipe(FIXTURES / "good" / "from_recipe.yaml", environ={})
    assert referenced_files(child) == ["recipes/base.yaml"]


def test_same_inputs_same_fingerprint_anywhere(project: Path) -> None:
    first = fp(project)
    assert len(first) == 64
    assert fp(project) == first
    assert fp(FIXTURES) == first  # the location of the checkout does not matter


@pytest.mark.parametrize(
    "relative", ["templates/motd.j2", "provisioners/setup.sh", "files/hello.txt", "suites/smoke.py"]
)
def test_changing_a_referenced_file_changes_it(project: Path, relative: str) -> None:
    before = fp(project)
    with (project / relative).open("a") as handle:
        handle.write("# changed\n")
    assert fp(project) != before


def test_new_file_in_a_suite_directory_changes_it(project: Path) -> None:
    before = fp(project)
    (project / "suites" / "extra.py").write_text("x = 1\n")
    assert fp(project) != before
    (project / "suites" / "__pycache__").mkdir()
    (project / "suites" / "__pycache__" / "extra.cpython-311.pyc").write_bytes(b"\0")
    after = fp(project)
    (project / "suites" / "__pycache__" / "extra.cpython-311.pyc").write_bytes(b"\1")
    assert fp(project) == after  # byte-code caches are not inputs


def test_variables_count_but_secret_values_do_not(project: Path) -> None:
    base = fp(project)
    assert fp(project, {"token": "t1", "greeting": "Hi"}) != base
    assert fp(project, {"token": "another secret"}) == base


def test_unrelated_file_does_not_change_it(project: Path) -> None:
    before = fp(project)
    (project / "files" / "unused.txt").write_text("not referenced\n")
    assert fp(project) == before
