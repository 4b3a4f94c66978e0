"""Recipe paths cannot leave the project root through symlinks (files, directories, includes)."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from goldsmith.errors import InputError, RecipeError
from goldsmith.provision.template import template_environment
from goldsmith.recipe.loader import LoadedRecipe, load_recipe

HEAD = "name: r\nsource: {id: ami-12345678}\nimage: {name: r-image}\nprovision:\n"


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    """A project directory and, next to it, a 'home' with a secret the project must not reach."""
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    (project / "invoke.yaml").write_text("")
    (home / "credentials").write_text("aws_secret_access_key = hunter2\n")
    (project / "files").mkdir()
    (project / "files" / "ok.conf").write_text("fine\n")
    return project, home


def load(project: Path, steps: str) -> LoadedRecipe:
    recipe = project / "r.yaml"
    recipe.write_text(HEAD + steps)
    return load_recipe(recipe, environ={})


def problems(project: Path, steps: str) -> list[str]:
    with pytest.raises(RecipeError) as caught:
        load(project, steps)
    return [f"{p.line}:{p.field}: {p.message}" for p in caught.value.problems]


def test_a_symlinked_file_outside_the_root_is_reported_at_its_field(layout: tuple[Path, Path]) -> None:
    project, home = layout
    (project / "files" / "cfg").symlink_to(home / "credentials")
    (project / "files" / "env").symlink_to("/proc/self/environ")
    (project / "run.sh").symlink_to(home / "credentials")
    found = problems(
        project,
        "  - {type: file, source: files/cfg, destination: /etc/cfg}\n"
        "  - {type: file, source: files/env, destination: /etc/env}\n"
        "  - {type: shell, script: run.sh}\n",
    )
    fields = ["5:provision[0].source", "6:provision[1].source", "7:provision[2].script"]
    assert [f.split(": ")[0] for f in found] == fields
    assert all("resolves outside the project root" in f for f in found)


def test_a_symlinked_directory_and_a_link_inside_a_directory_are_reported(layout: tuple[Path, Path]) -> None:
    project, home = layout
    (project / "linked").symlink_to(home, target_is_directory=True)
    (project / "files" / "nested").mkdir()
    (project / "files" / "nested" / "key").symlink_to(home / "credentials")
    found = problems(
        project,
        "  - {type: file, source: linked, destination: /etc/x}\n"
        "  - {type: file, source: files, destination: /etc/y}\n",
    )
    assert found[0].startswith("5:provision[0].source: linked resolves outside the project root")
    assert found[1].startswith("6:provision[1].source: files: files/nested/key resolves outside the project root")


def test_a_directory_link_inside_the_tree_is_followed(layout: tuple[Path, Path]) -> None:
    project, home = layout
    (project / "other").mkdir()
    (project / "other" / "key").symlink_to(home / "credentials")
    (project / "files" / "via").symlink_to(project / "other", target_is_directory=True)
    (project / "files" / "loop").symlink_to(project / "files", target_is_directory=True)
    found = problems(project, "  - {type: file, source: files, destination: /etc/y}\n")
    assert len(found) == 1 and "other/key resolves outside the project root" in found[0]


def test_symlinks_that_stay_inside_the_root_are_fine(layout: tuple[Path, Path]) -> None:
    project, _ = layout
    (project / "files" / "alias.conf").symlink_to(project / "files" / "ok.conf")
    (project / "files" / "self").symlink_to("ok.conf")
    loaded = load(project, "  - {type: file, source: files, destination: /etc/y}\n"
                           "  - {type: file, source: files/alias.conf, destination: /etc/z}\n")
    assert loaded.resolve("files/alias.conf").read_text() == "fine\n"


def test_resolve_refuses_a_link_made_after_loading(layout: tuple[Path, Path]) -> None:
    project, home = layout
    loaded = load(project, "  - {type: file, source: files/ok.conf, destination: /etc/z}\n")
    (project / "files" / "ok.conf").unlink()
    (project / "files" / "ok.conf").symlink_to(home / "credentials")
    with pytest.raises(InputError, match=r"files/ok\.conf resolves outside the project root"):
        loaded.resolve("files/ok.conf")
    with pytest.raises(InputError, match="resolves outside the project root"):
        loaded.resolve("../home/credentials")
    assert loaded.resolve("files/missing") == project / "files" / "missing"  # the caller says "not found"


def test_template_includes_cannot_leave_the_root(layout: tuple[Path, Path]) -> None:
    project, home = layout
    (project / "templates").mkdir()
    main = project / "templates" / "main.j2"
    main.write_text("x")
    (project / "templates" / "inner.j2").write_text("inner {{ 1 + 1 }}")
    (project / "templates" / "secret.j2").symlink_to(home / "credentials")
    env = template_environment(project, main)
    assert env.from_string("{% include 'inner.j2' %}").render() == "inner 2"
    with pytest.raises(jinja2.TemplateError, match=r"'secret\.j2' resolves outside the project root"):
        env.from_string("{% include 'secret.j2' %}").render()
