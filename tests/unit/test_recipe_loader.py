"""load_recipe on good recipes: the model, variables and their precedence, root finding, rendering."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from goldsmith.errors import InputError, RecipeError
from goldsmith.recipe.loader import BUILD_FACTS, find_root, load_recipe, parse_var_args
from goldsmith.recipe.model import FileStep, RebootStep, ShellStep, TemplateStep

REPO = Path(__file__).parents[2]
FIXTURES = REPO / "tests" / "fixtures"
GOOD = FIXTURES / "good"
TOKEN = {"GOLDSMITH_VAR_TOKEN": "s3cr3t-value"}


def test_repo_example_recipes_load() -> None:
    base = load_recipe(REPO / "recipes" / "base.yaml", environ={})
    assert base.root == REPO
    assert base.recipe.source.filter is not None
    assert base.recipe.source.filter.owners == ["136693071363"]
    assert [v.mount for v in base.recipe.volumes.data] == ["/data"]
    assert base.recipe.image.share.accounts == ["111122223333", "444455556666"]
    name = base.render(base.recipe.image.name, recipe_version="1.0.0", timestamp="20250101120000",
                       build_id="base-20250101-120000-3f9a")
    assert name == "base-1.0.0-20250101120000-3f9a"
    web = load_recipe(REPO / "recipes" / "web.yaml", environ={})
    assert web.recipe.source.recipe == "hardened"
    assert web.variables == {"port": "8080", "server_name": "web.internal"}


def test_full_fixture_uses_every_section() -> None:
    loaded = load_recipe(GOOD / "full.yaml", environ=TOKEN)
    recipe = loaded.recipe
    assert [type(s) for s in recipe.provision] == [
        TemplateStep, TemplateStep, FileStep, ShellStep, RebootStep, ShellStep
    ]
    assert recipe.build.timeouts.copy == 7200 and recipe.build.timeouts.ssh == 120
    assert recipe.volumes.data[1].filesystem == "xfs"
    assert recipe.image.encrypt is not None and recipe.image.encrypt.regions == {"eu-west-1": "alias/goldsmith-eu"}
    assert recipe.validate_.on_failure == "keep"
    assert loaded.variables["listen_port"] == "8080"  # an unquoted number becomes text
    assert loaded.secrets == frozenset({"s3cr3t-value"})
    assert loaded.secret_names == frozenset({"token"})


def test_date_only_deprecation_is_midnight_utc() -> None:
    loaded = load_recipe(GOOD / "from_recipe.yaml", environ={})
    assert loaded.recipe.image.deprecate_at == datetime(2030, 1, 1, tzinfo=UTC)


def test_variable_precedence_default_env_cli() -> None:
    path = GOOD / "full.yaml"
    assert load_recipe(path, environ=TOKEN).variables["greeting"] == "Hello"
    env = {**TOKEN, "GOLDSMITH_VAR_GREETING": "from env"}
    assert load_recipe(path, environ=env).variables["greeting"] == "from env"
    assert load_recipe(path, {"greeting": "from cli"}, environ=env).variables["greeting"] == "from cli"


def test_required_secret_can_come_from_cli() -> None:
    loaded = load_recipe(GOOD / "full.yaml", {"token": "abc=="}, environ={})
    assert loaded.variables["token"] == "abc=="
    assert loaded.redact("Authorization: abc==") == "Authorization: ***"


def test_unknown_cli_variable_is_reported_with_a_suggestion() -> None:
    with pytest.raises(RecipeError) as caught:
        load_recipe(GOOD / "full.yaml", {"greting": "x", "token": "t"}, environ={})
    assert str(caught.value) == "--var: greting: the recipe declares no variable 'greting' (did you mean 'greeting'?)"


def test_unknown_cli_variable_is_reported_with_other_mistakes() -> None:
    with pytest.raises(RecipeError) as caught:
        load_recipe(FIXTURES / "bad" / "secret_without_value.yaml", {"nope": "1"}, environ={})
    fields = [p.field for p in caught.value.problems]
    assert fields == ["nope", "variables.token"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], {}),
        (["a=1", "b=x=y", "c="], {"a": "1", "b": "x=y", "c": ""}),
        (["a=1", "a=2"], {"a": "2"}),
    ],
)
def test_parse_var_args(args: list[str], expected: dict[str, str]) -> None:
    assert parse_var_args(args) == expected


@pytest.mark.parametrize("bad", ["novalue", "=value", ""])
def test_parse_var_args_rejects_arguments_without_a_name(bad: str) -> None:
    with pytest.raises(InputError, match="is not of the form name=value"):
        parse_var_args(["ok=1", bad])


def test_render_uses_variables_and_facts() -> None:
    loaded = load_recipe(GOOD / "full.yaml", environ=TOKEN)
    assert loaded.render("{{ greeting }} {{ build_id }}", build_id="b-1") == "Hello b-1"


def test_render_names_the_undefined_variable() -> None:
    loaded = load_recipe(GOOD / "full.yaml", environ=TOKEN)
    with pytest.raises(InputError, match="undefined variable 'greetin' \\(did you mean 'greeting'\\?\\)"):
        loaded.render("{{ greetin }}")
    with pytest.raises(InputError, match="undefined variable 'build_id'"):
        loaded.render("{{ build_id }}")  # facts are only what the caller passes
    with pytest.raises(InputError, match="cannot render"):
        loaded.render("{{ 1 / 0 }}")


def test_root_is_the_first_ancestor_with_invoke_yaml_or_tasks_py(tmp_path: Path) -> None:
    (tmp_path / "tasks.py").write_text("")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    recipe = nested / "r.yaml"
    assert find_root(recipe) == tmp_path
    (tmp_path / "a" / "invoke.yaml").write_text("")
    assert find_root(recipe) == tmp_path / "a"
    assert find_root(GOOD / "minimal.yaml") == FIXTURES


def test_without_markers_the_root_is_the_recipe_directory(tmp_path: Path) -> None:
    assert find_root(tmp_path / "r.yaml") in (tmp_path, *tmp_path.parents)


def test_resolve_is_relative_to_the_root() -> None:
    loaded = load_recipe(GOOD / "minimal.yaml", environ={})
    assert loaded.path == GOOD / "minimal.yaml"
    assert loaded.resolve("templates/motd.j2") == FIXTURES / "templates" / "motd.j2"


def test_secret_variables_may_not_appear_in_image_metadata(tmp_path: Path) -> None:
    (tmp_path / "invoke.yaml").write_text("")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: r\nvariables:\n  token: {secret: true}\nsource: {id: ami-12345678}\n"
        "image:\n  name: 'r-{{ timestamp }}'\n  tags: {T: '{{ token }}'}\n"
    )
    with pytest.raises(RecipeError, match=r"7:13: image\.tags\.T: secret variable 'token' would be visible"):
        load_recipe(recipe, {"token": "x"}, environ={})


def test_build_facts_are_the_contract_names() -> None:
    assert set(BUILD_FACTS) == {
        "build_id", "timestamp", "date", "recipe_name", "recipe_version", "source_ami", "source_ami_name", "region"
    }


def test_recipe_paths_must_stay_inside_the_root(tmp_path: Path) -> None:
    (tmp_path / "invoke.yaml").write_text("")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: r\nsource: {id: ami-12345678}\nimage: {name: r-image}\nprovision:\n"
        "  - {type: shell, script: ../outside.sh}\n  - {type: file, source: /etc/passwd, destination: /tmp/x}\n"
    )
    with pytest.raises(RecipeError) as caught:
        load_recipe(recipe, environ={})
    assert [p.field for p in caught.value.problems] == ["provision[0].script", "provision[1].source"]
    assert "must be a path relative to the project root" in str(caught.value)


def test_validate_ingress_takes_tcp_ports_once_each(tmp_path: Path) -> None:
    (tmp_path / "invoke.yaml").write_text("")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\nsource: {id: ami-12345678}\nimage: {name: r-image}\nvalidate:\n"
                      "  ingress: [8080, 443]\n")
    assert load_recipe(recipe, environ={}).recipe.validate_.ingress == [8080, 443]
    recipe.write_text("name: r\nsource: {id: ami-12345678}\nimage: {name: r-image}\nvalidate:\n"
                      "  ingress: [8080, 70000, http]\n")
    with pytest.raises(RecipeError) as caught:
        load_recipe(recipe, environ={})
    assert [p.field for p in caught.value.problems] == ["validate.ingress[1]", "validate.ingress[2]"]
    assert "r.yaml:5:19: validate.ingress[1]: must be at most 65535" in str(caught.value)
    recipe.write_text("name: r\nsource: {id: ami-12345678}\nimage: {name: r-image}\nvalidate:\n  ingress: [80, 80]\n")
    with pytest.raises(RecipeError, match=r"5:12: validate\.ingress: ports must be listed once each"):
        load_recipe(recipe, environ={})
