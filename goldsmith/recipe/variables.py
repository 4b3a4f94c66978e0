"""Variable values: recipe default < environment GOLDSMITH_VAR_<NAME> < --var name=value."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from goldsmith.errors import InputError, Problem
from goldsmith.recipe.hints import did_you_mean
from goldsmith.recipe.model import Variable
from goldsmith.recipe.yaml_source import YamlDocument

ENV_PREFIX = "GOLDSMITH_VAR_"


def parse_var_args(args: Iterable[str]) -> dict[str, str]:
    """Turn ["name=value", ...] into a dict; the value may contain '=' and be empty."""
    values: dict[str, str] = {}
    for arg in args:
        name, sep, value = arg.partition("=")
        if not sep or not name.strip():
            raise InputError(f"--var {arg!r} is not of the form name=value (for example --var port=8080)")
        values[name.strip()] = value
    return values


def env_name(name: str) -> str:
    """The environment variable that sets recipe variable `name`."""
    return ENV_PREFIX + name.upper()


@dataclass
class Resolved:
    """Values found for the recipe's variables, and what went wrong finding them."""

    values: dict[str, str] = field(default_factory=dict)
    secret_names: set[str] = field(default_factory=set)
    declared: set[str] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)


def declared_variables(data: Any) -> dict[str, Any]:
    """The raw `variables` mapping of a recipe, or {} if it has none or it is malformed."""
    raw = data.get("variables") if isinstance(data, dict) else None
    return {k: v for k, v in raw.items() if isinstance(k, str)} if isinstance(raw, dict) else {}


def resolve_variables(doc: YamlDocument, cli_vars: Mapping[str, str], environ: Mapping[str, str]) -> Resolved:
    """Resolve every declared variable; report required ones without a value and unknown --var names."""
    raw = declared_variables(doc.data)
    result = Resolved(declared=set(raw))
    for name, spec in raw.items():
        try:
            variable = Variable.model_validate(spec)
        except ValidationError:
            continue  # reported by the model validation with its location
        if variable.secret:
            result.secret_names.add(name)
        value = cli_vars.get(name, environ.get(env_name(name), variable.default))
        if value is None:
            kind = "secret variable" if variable.secret else "variable"
            message = (
                f"{kind} '{name}' has no default and no value was given: "
                f"pass --var {name}=... or set {env_name(name)}"
            )
            result.problems.append(doc.problem(("variables", name), message, key=True))
        else:
            result.values[name] = value
    for name in cli_vars:
        if name not in raw:
            hint = did_you_mean(name, raw) or (f" (declared: {', '.join(sorted(raw))})" if raw else "")
            message = f"the recipe declares no variable '{name}'{hint}"
            result.problems.append(Problem("--var", 0, 0, name, message))
    return result
