"""Whatever is in the file, load_recipe answers with a RecipeError/InputError, never a crash."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from goldsmith.errors import InputError, RecipeError
from goldsmith.recipe.loader import LoadedRecipe, load_recipe

FIXTURES = Path(__file__).parents[1] / "fixtures"
BASE = (FIXTURES / "good" / "full.yaml").read_text()
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    """A copy of the fixture project, so the full recipe's files exist."""
    with tempfile.TemporaryDirectory() as name:
        root = Path(name) / "project"
        shutil.copytree(FIXTURES, root, ignore=shutil.ignore_patterns("bad", "__pycache__"))
        yield root


def load_text(root: Path, data: bytes) -> LoadedRecipe | None:
    path = root / "r.yaml"
    path.write_bytes(data)
    try:
        return load_recipe(path, {}, environ={"GOLDSMITH_VAR_TOKEN": "t"})
    except RecipeError as exc:
        assert exc.problems, "a RecipeError must carry at least one problem"
        assert all(str(p).startswith(str(path)) for p in exc.problems)
        return None
    except InputError:
        return None


@SETTINGS
@given(st.binary(max_size=2000))
def test_any_bytes(workdir: Path, data: bytes) -> None:
    load_text(workdir, data)


YAML_CHARS = st.sampled_from([*"abc:-[]{}#&*!|>'\"%@` \t\n,?0123456789.\\", "{{", "}}", "{%", "\x00", "é"])


@SETTINGS
@given(st.lists(YAML_CHARS, max_size=300).map("".join))
def test_yamlish_text(workdir: Path, text: str) -> None:
    load_text(workdir, text.encode())


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20),
    st.sampled_from(["{{ x }}", "{{", "ami-12345678", "/dev/sdf", "-1", "2025-13-01", "shell", "file"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=12), inner, max_size=4), max_leaves=20)


def test_unmutated_recipe_loads(workdir: Path) -> None:
    assert load_text(workdir, BASE.encode()) is not None


@SETTINGS
@given(st.data())
def test_mutated_good_recipe(workdir: Path, data: st.DataObject) -> None:
    """Replace one part of a valid recipe by an arbitrary value: only RecipeErrors come out."""
    recipe = yaml.safe_load(BASE)
    section = data.draw(st.sampled_from(sorted(recipe)))
    if isinstance(recipe[section], dict) and data.draw(st.booleans()):
        key = data.draw(st.sampled_from([*sorted(recipe[section]), "extra"]))
        recipe[section][key] = data.draw(values)
    else:
        recipe[section] = data.draw(values)
    load_text(workdir, yaml.safe_dump(recipe).encode())
