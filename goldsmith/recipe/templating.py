"""Jinja2 for recipes: one strict environment, variable discovery, and name patterns.

StrictUndefined everywhere: a typo in a variable name must fail the check, never bake an empty string
into an image. The environment is sandboxed because templates only need data, not Python objects.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import jinja2
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment

from goldsmith.errors import InputError
from goldsmith.recipe.hints import did_you_mean

BUILD_FACTS = (
    "build_id",
    "timestamp",
    "date",
    "recipe_name",
    "recipe_version",
    "source_ami",
    "source_ami_name",
    "region",
)

#: Plausible values of the build facts, used to check rendered names before a bake starts.
PLACEHOLDER_FACTS: dict[str, str] = {
    "build_id": "recipe-20250101-120000-3f9a",
    "timestamp": "20250101120000",
    "date": "2025-01-01",
    "recipe_name": "recipe",
    "recipe_version": "0.1.0",
    "source_ami": "ami-0123456789abcdef0",
    "source_ami_name": "source-image-20250101",
    "region": "us-east-1",
}

_TEMPLATE_PART = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


def environment() -> jinja2.Environment:
    """A sandboxed environment that fails on any undefined name and keeps text as written."""
    return SandboxedEnvironment(
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False
    )


_ENV = environment()


def undeclared(source: str) -> set[str]:
    """Names a template reads from its context; raises jinja2.TemplateSyntaxError."""
    return set(meta.find_undeclared_variables(_ENV.parse(source)))


def unknown_names(source: str, known: set[str]) -> list[str]:
    """Sentences for each name the template uses that is not in `known` (sorted)."""
    return [
        f"undefined variable '{name}'{did_you_mean(name, known)}"
        for name in sorted(undeclared(source) - known)
    ]


def render(template: str, context: Mapping[str, str]) -> str:
    """Render with StrictUndefined; an unknown name or bad syntax becomes an InputError sentence."""
    try:
        return _ENV.from_string(template).render(dict(context))
    except jinja2.UndefinedError as exc:
        names = sorted(undeclared(template) - set(context))
        which = ", ".join(f"'{n}'{did_you_mean(n, context)}" for n in names) or str(exc.message)
        raise InputError(f"cannot render {template!r}: undefined variable {which}") from exc
    except jinja2.TemplateSyntaxError as exc:
        raise InputError(f"cannot render {template!r}: {exc.message} (line {exc.lineno})") from exc
    except (jinja2.TemplateError, ArithmeticError, TypeError, ValueError, LookupError, RecursionError) as exc:
        raise InputError(f"cannot render {template!r}: {exc}") from exc


def name_pattern(template: str) -> str:
    """The wildcard pattern of names a template can produce: each {{ ... }} becomes '*'.

    Used to find the newest image of another recipe (`source: {recipe: base}`).
    """
    pattern = _TEMPLATE_PART.sub("*", template)
    return re.sub(r"\*+", "*", pattern)
