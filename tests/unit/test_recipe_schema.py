"""The committed reference and JSON Schema match the model; the schema accepts the example recipes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from goldsmith.recipe import schema
from goldsmith.recipe.model import Recipe

jsonschema = pytest.importorskip("jsonschema")  # comes with moto[server]

REPO = Path(__file__).parents[2]
REGENERATE = "regenerate with `invoke docs` (python -m goldsmith.recipe.schema --markdown/--json)"


def test_markdown_reference_is_up_to_date() -> None:
    committed = (REPO / "docs" / "recipe-reference.md").read_text()
    assert committed == schema.markdown(), f"docs/recipe-reference.md is out of date: {REGENERATE}"


def test_json_schema_is_up_to_date() -> None:
    committed = (REPO / "schema" / "recipe.schema.json").read_text()
    assert committed == json.dumps(schema.json_schema(), indent=2) + "\n", f"schema is out of date: {REGENERATE}"


def test_every_field_is_documented() -> None:
    for model in schema._models(Recipe):
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no docstring"


@pytest.mark.parametrize(
    "path",
    ["recipes/base.yaml", "recipes/web.yaml", "tests/fixtures/good/full.yaml", "tests/fixtures/good/minimal.yaml"],
)
def test_json_schema_accepts_good_recipes(path: str) -> None:
    jsonschema.validate(yaml.safe_load((REPO / path).read_text()), schema.json_schema())


def test_json_schema_rejects_unknown_fields() -> None:
    recipe = yaml.safe_load((REPO / "recipes" / "base.yaml").read_text())
    recipe["build"]["instance_typ"] = "t3.micro"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(recipe, schema.json_schema())


def test_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert schema.main(["--json"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "Recipe"
    assert schema.main(["--markdown"]) == 0
    assert capsys.readouterr().out.startswith("# Recipe reference")


def test_pipeline_reference_and_schema_are_up_to_date_and_accept_the_example() -> None:
    assert (REPO / "docs" / "pipeline-reference.md").read_text() == schema.pipeline_markdown(), REGENERATE
    committed = (REPO / "schema" / "pipeline.schema.json").read_text()
    assert committed == json.dumps(schema.pipeline_json_schema(), indent=2) + "\n", REGENERATE
    example = yaml.safe_load((REPO / "pipelines" / "release.yaml").read_text())
    jsonschema.validate(example, schema.pipeline_json_schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**example, "concurency": 2}, schema.pipeline_json_schema())
    from goldsmith.recipe.pipeline_model import Pipeline

    for model in schema._models(Pipeline):
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no docstring"
