"""JSON Schema and a Markdown field reference, both generated from the model so docs cannot drift.

    python -m goldsmith.recipe.schema --json     > schema/recipe.schema.json
    python -m goldsmith.recipe.schema --markdown > docs/recipe-reference.md
    python -m goldsmith.recipe.schema --pipeline --json     > schema/pipeline.schema.json
    python -m goldsmith.recipe.schema --pipeline --markdown > docs/pipeline-reference.md
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import sys
import types
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from goldsmith.recipe.field_docs import attach_field_docs
from goldsmith.recipe.model import Recipe
from goldsmith.recipe.pipeline_model import Pipeline
from goldsmith.recipe.templating import BUILD_FACTS
from goldsmith.recipe.variables import ENV_PREFIX

SCHEMA_ID = "https://goldsmith.invalid/schema/recipe.schema.json"
PIPELINE_SCHEMA_ID = "https://goldsmith.invalid/schema/pipeline.schema.json"


def json_schema() -> dict[str, Any]:
    """The recipe's JSON Schema (draft 2020-12), with variables allowed as plain scalars."""
    _documented(Recipe)
    schema = Recipe.model_json_schema(by_alias=True, mode="validation")
    variables = schema["properties"]["variables"]
    variables["additionalProperties"] = {
        "anyOf": [{"type": ["string", "number", "boolean", "null"]}, variables["additionalProperties"]]
    }
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def pipeline_json_schema() -> dict[str, Any]:
    """The pipeline's JSON Schema (draft 2020-12)."""
    _documented(Pipeline)
    schema = Pipeline.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": PIPELINE_SCHEMA_ID, **schema}


@functools.cache
def _documented(root: type[BaseModel]) -> list[type[BaseModel]]:
    """The models reachable from root, their fields described by their docstrings (field_docs.py)."""
    models = _models(root)
    attach_field_docs(models)
    return models


def _models(root: type[BaseModel]) -> list[type[BaseModel]]:
    """Every model reachable from root, in first-seen order."""
    seen: list[type[BaseModel]] = []
    pending = [root]
    while pending:
        model = pending.pop(0)
        if model in seen:
            continue
        seen.append(model)
        for info in model.model_fields.values():
            pending.extend(_nested(info.annotation))
    return seen


def _nested(tp: Any) -> list[type[BaseModel]]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    return [m for arg in get_args(tp) for m in _nested(arg)]


def type_name(tp: Any) -> str:
    """A short, readable type: `list of [DataVolume](#datavolume)`, `"gp2" | "gp3"`, `text`."""
    origin, args = get_origin(tp), get_args(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return f"[{tp.__name__}](#{tp.__name__.lower()})"
    if origin is Literal:
        return " \\| ".join(f'`"{a}"`' for a in args)
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(a) for a in args if a is not type(None))
    if origin is list:
        return f"list of {type_name(args[0])}"
    if origin is dict:
        return f"mapping of {type_name(args[0])} to {type_name(args[1])}"
    if args and hasattr(tp, "__metadata__"):
        return type_name(args[0])
    names = {str: "text", int: "whole number", bool: "true/false", float: "number"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    value = info.default_factory() if info.default_factory is not None else info.default  # type: ignore[call-arg]
    if value is PydanticUndefined or value is None:
        return "—"
    if isinstance(value, BaseModel):
        return "see below" if value.model_fields_set == set() else "—"
    return f"`{json.dumps(value)}`" if not isinstance(value, str) else f'`"{value}"`'


def _bounds(info: FieldInfo) -> str:
    """" > 0", " 1..65535": the numeric limits pydantic enforces on a field."""
    low = high = None
    for item in info.metadata:
        low = getattr(item, "ge", None) or low
        high = getattr(item, "le", None) or high
        if getattr(item, "gt", None) is not None:
            return f" > {item.gt}"
    return f" {low}..{high}" if low is not None and high is not None else ""


def _table(model: type[BaseModel]) -> list[str]:
    lines = [f"## {model.__name__}", "", inspect.cleandoc(model.__doc__ or ""), ""]
    lines += ["| Field | Type | Default | Description |", "| --- | --- | --- | --- |"]
    for name, info in model.model_fields.items():
        shown = info.alias or name
        description = (info.description or "").replace("\n", " ").replace("|", "\\|")
        lines.append(f"| `{shown}` | {type_name(info.annotation)}{_bounds(info)} | {_default(info)} | {description} |")
    return [*lines, ""]


_INTRO = f"""# Recipe reference

<!-- Generated from goldsmith/recipe/model.py by `python -m goldsmith.recipe.schema --markdown`.
     Do not edit by hand: change the model's docstrings and regenerate (`invoke docs`). -->

A recipe is a YAML file (usually `recipes/<name>.yaml`) describing where a bake starts, what it does on
the build instance and what image it registers. `invoke check <recipe>` reports every mistake at once,
each as `file:line:column: field: message`. A JSON Schema for editors is in `schema/recipe.schema.json`.

Paths (`script`, `source`, `suites`) are relative to the project root: the first directory above the
recipe that holds `invoke.yaml` or `tasks.py`. `source.recipe: base` names `recipes/base.yaml` (or
`recipes/base.yml`) under that root, for the check and the bake alike.

Publishing rules are checked with the rest: an encrypted image cannot be public, `deprecate_at` must
be in the future, and an encrypted image needs a key under `encrypt.regions` for each copy region. The
build region comes from the target, not the recipe: when `encrypt.kms_key` is a key ARN its region is
the build region, otherwise the check lets one region of `image.regions` go without a key (it may be
the build region) and the bake's preflight checks the rest.

## Variables and templates

Fields described as templates below are rendered with jinja2 and strict undefined names: a misspelt name is an
error when the recipe is checked, never an empty string in the image. Templates see the recipe's
variables and these build facts: {", ".join(f"`{f}`" for f in BUILD_FACTS)}.

A variable's value comes from, in increasing priority: its `default` in the recipe, the environment
variable `{ENV_PREFIX}<NAME>` (upper-cased name), and `--var name=value`. A variable without a
default must be given one of the other ways. Values of `secret: true` variables are redacted from logs
and manifests (values shorter than 4 characters are not masked) and may not appear in the image's name,
description or tags.

```yaml
variables:
  port: "8080"                  # a default
  api_token: {{secret: true}}     # required, never logged
```

Provision steps are a list of mappings told apart by `type`: `shell`, `file`, `template` or `reboot`.
"""


def markdown() -> str:
    """The field reference for every model reachable from Recipe."""
    lines = [_INTRO]
    for model in _documented(Recipe):
        lines.extend(_table(model))
    return "\n".join(lines).rstrip() + "\n"


_PIPELINE_INTRO = """# Pipeline reference

<!-- Generated from goldsmith/recipe/pipeline_model.py by `python -m goldsmith.recipe.schema --pipeline --markdown`.
     Do not edit by hand: change the model's docstrings and regenerate (`invoke docs`). -->

A pipeline is a YAML file (usually `pipelines/<name>.yaml`) naming recipes that bake together:
`invoke pipeline pipelines/<name>.yaml`. `invoke check` and `invoke pipeline --plan` report every mistake
of the pipeline and of its recipes at once, as `file:line:column: field: message`, before any AWS call.
A JSON Schema for editors is in `schema/pipeline.schema.json`.

A recipe waits for the recipe its `source.recipe` names, which must be in the pipeline, and builds on the
image this run baked from it (once that image passed validation in the build region; its copies and
sharing go on meanwhile). A source that names a channel (`source: {recipe: base, channel: stable}`) is no
dependency: the recipe builds on what the channel names, baked by this run or not. `after` adds orderings
without a source relation. A cycle is an error.

```yaml
name: release
concurrency: 4
recipes:
  - recipe: base
  - recipe: hardened            # source: {recipe: base} in recipes/hardened.yaml
    regions: [us-west-2]        # replaces the recipe's image.regions
  - recipe: web
    variables: {port: "8080"}
```
"""


def pipeline_markdown() -> str:
    """The field reference for the pipeline's models."""
    lines = [_PIPELINE_INTRO]
    for model in _documented(Pipeline):
        lines.extend(_table(model))
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print the recipe (or pipeline) JSON Schema or Markdown reference.")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--json", action="store_true", help="JSON Schema (schema/recipe.schema.json)")
    group.add_argument("--markdown", action="store_true", help="field reference (docs/recipe-reference.md)")
    parser.add_argument("--pipeline", action="store_true", help="the pipeline's instead of the recipe's")
    args = parser.parse_args(argv)
    if args.pipeline:
        text = json.dumps(pipeline_json_schema(), indent=2) + "\n" if args.json else pipeline_markdown()
    else:
        text = json.dumps(json_schema(), indent=2) + "\n" if args.json else markdown()
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
