"""fingerprint: changes exactly when something the bake depends on changes, and never shows a secret."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path

import pytest

from goldsmith.errors import InputError
from goldsmith.images.cache_key import CACHE_KEY_ENV, cache_key
from goldsmith.recipe.fingerprint import fingerprint, input_files
from goldsmith.recipe.loader import LoadedRecipe, load_recipe

FIXTURES = Path(__file__).parents[1] / "fixtures"
AMI = "ami-0123456789abcdef0"
KEY = b"k" * 32


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the fixture project, so files can be changed."""
    root = tmp_path / "project"
    shutil.copytree(FIXTURES, root, ignore=shutil.ignore_patterns("bad", "__pycache__"))
    return root


def load(root: Path, cli: dict[str, str] | None = None, recipe: str = "good/full.yaml") -> LoadedRecipe:
    return load_recipe(root / recipe, {"token": "t1"} if cli is None else cli, environ={})


def fp(root: Path, cli: dict[str, str] | None = None, *, ami: str = AMI, key: bytes = KEY) -> str:
    return fingerprint(load(root, cli), ami, secret_key=key)


def test_input_files() -> None:
    assert input_files(load(FIXTURES)) == [
        "files/hello.txt", "provisioners/setup.sh", "suites", "suites/smoke.py", "templates/app.conf.j2",
        "templates/motd.j2",
    ]
    # The upstream recipe's file is not an input: the upstream AMI id is (see the source AMI tests).
    assert input_files(load_recipe(FIXTURES / "good" / "from_recipe.yaml", environ={})) == []


def test_the_conftest_beside_a_suite_file_is_an_input(project: Path) -> None:
    recipe = project / "good" / "suite_file.yaml"
    recipe.write_text("name: s\nsource: {id: ami-0123456789abcdef0}\nimage: {name: 's-{{ timestamp }}'}\n"
                      "validate: {suites: [suites/smoke.py]}\n")
    loaded = load(project, {}, "good/suite_file.yaml")
    assert input_files(loaded) == ["suites/smoke.py"]
    before = fingerprint(loaded, AMI)
    (project / "suites" / "conftest.py").write_text("import pytest\n")
    assert input_files(loaded) == ["suites/conftest.py", "suites/smoke.py"]
    assert fingerprint(loaded, AMI) != before


def test_same_inputs_same_fingerprint_anywhere(project: Path) -> None:
    first = fp(project)
    assert len(first) == 64
    assert fp(project) == first
    assert fp(FIXTURES) == first  # the location of the checkout does not matter


@pytest.mark.parametrize(
    "relative", ["templates/motd.j2", "provisioners/setup.sh", "files/hello.txt", "suites/smoke.py"]
)
def test_changing_an_input_file_changes_it(project: Path, relative: str) -> None:
    before = fp(project)
    with (project / relative).open("a") as handle:
        handle.write("# changed\n")
    assert fp(project) != before


def test_a_script_change_changes_only_the_recipes_that_run_it(project: Path) -> None:
    for name in ("one", "two"):
        (project / "provisioners" / f"{name}.sh").write_text(f"echo {name}\n")
        (project / "good" / f"{name}.yaml").write_text(
            f"name: {name}\nsource: {{id: {AMI}}}\nimage: {{name: '{name}-{{{{ timestamp }}}}'}}\n"
            f"provision:\n  - {{type: shell, script: provisioners/{name}.sh}}\n")
    recipes = ("good/one.yaml", "good/two.yaml", "good/full.yaml", "good/minimal.yaml")

    def all_fps() -> dict[str, str]:
        return {r: fingerprint(load(project, None if r == "good/full.yaml" else {}, r), AMI, secret_key=KEY)
                for r in recipes}

    before = all_fps()
    (project / "provisioners" / "one.sh").write_text("echo one, changed\n")
    after = all_fps()
    assert [r for r in recipes if before[r] != after[r]] == ["good/one.yaml"]


def test_new_file_in_a_suite_directory_changes_it(project: Path) -> None:
    before = fp(project)
    (project / "suites" / "extra.py").write_text("x = 1\n")
    assert fp(project) != before
    (project / "suites" / "__pycache__").mkdir()
    (project / "suites" / "__pycache__" / "extra.cpython-311.pyc").write_bytes(b"\0")
    after = fp(project)
    (project / "suites" / "__pycache__" / "extra.cpython-311.pyc").write_bytes(b"\1")
    assert fp(project) == after  # byte-code caches are not inputs


def test_the_source_ami_id_changes_it(project: Path) -> None:
    """A new base image, or a new bake of the upstream recipe, invalidates the image built on it."""
    assert fp(project, ami="ami-0aaaaaaaaaaaaaaaa") != fp(project, ami="ami-0bbbbbbbbbbbbbbbb")
    child = load_recipe(FIXTURES / "good" / "from_recipe.yaml", environ={})
    assert fingerprint(child, "ami-0aaaaaaaaaaaaaaaa") != fingerprint(child, "ami-0bbbbbbbbbbbbbbbb")


def test_variables_count(project: Path) -> None:
    assert fp(project, {"token": "t1", "greeting": "Hi"}) != fp(project)


def test_secret_values_count_through_a_keyed_hash_only(project: Path) -> None:
    base = fp(project)
    assert fp(project, {"token": "another secret"}) != base  # a new secret bakes a new image
    assert fp(project, key=b"another project's key" * 2) != base  # keyed: not computable without the key
    with pytest.raises(ValueError, match="secret_key"):
        fingerprint(load(project), AMI)  # never an unkeyed (brute-forceable) hash of the secret
    # Nothing a guesser could compute without the key matches: not the value, not its plain hash.
    assert "t1" not in base and hashlib.sha256(b"t1").hexdigest() != base


def test_a_secret_default_in_the_recipe_counts_only_through_the_keyed_hash(project: Path) -> None:
    path = project / "good" / "secret_default.yaml"
    text = "name: s\nvariables:\n  pw: {secret: true, default: DEFAULT}\nsource: {id: " + AMI + "}\n" \
           "image: {name: 's-{{ timestamp }}'}\n"
    path.write_text(text)
    one = fingerprint(load(project, {}, "good/secret_default.yaml"), AMI, secret_key=KEY)
    path.write_text(text.replace("DEFAULT", "OTHER"))
    assert fingerprint(load(project, {}, "good/secret_default.yaml"), AMI, secret_key=KEY) != one
    # ... and the same value given on the command line instead of as a default is the same input.
    assert fingerprint(load(project, {"pw": "DEFAULT"}, "good/secret_default.yaml"), AMI, secret_key=KEY) == one


def test_recipes_without_secrets_need_no_key(project: Path) -> None:
    minimal = load(project, {}, "good/minimal.yaml")
    assert fingerprint(minimal, AMI) == fingerprint(minimal, AMI, secret_key=KEY)


@pytest.mark.parametrize("old, new", [
    ('accounts: ["111122223333"]', 'accounts: ["111122223333", "444455556666"]'),  # who may launch it
    ("regions: [eu-west-1, us-west-2]", "regions: [eu-west-1]"),  # where it is copied
    ("deprecate_after: 90", "deprecate_after: 30"),
])
def test_publishing_settings_are_inputs(project: Path, old: str, new: str) -> None:
    """A reused image is shared, copied and deprecated as the recipe says: other settings, other images."""
    before = fp(project)
    recipe = project / "good" / "full.yaml"
    text = recipe.read_text()
    assert old in text
    recipe.write_text(text.replace(old, new))
    assert fp(project) != before


def test_unrelated_file_does_not_change_it(project: Path) -> None:
    before = fp(project)
    (project / "files" / "unused.txt").write_text("not referenced\n")
    (project / "recipes" / "base.yaml").write_text("# the upstream recipe's text is not an input\n")
    assert fp(project) == before


def test_the_cache_key_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    work = tmp_path / "work"
    key = cache_key(work, environ={})
    assert len(key) == 64
    assert stat.S_IMODE((work / "cache-key").stat().st_mode) == 0o600
    assert cache_key(work, environ={}) == key
    assert cache_key(work, environ={CACHE_KEY_ENV: "from-ci-secret"}) == b"from-ci-secret"
    os.chmod(work / "cache-key", 0o644)
    with pytest.raises(InputError, match="chmod 600"):
        cache_key(work, environ={})
