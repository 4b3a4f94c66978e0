"""templating: strict rendering, variable discovery and name patterns."""

from __future__ import annotations

import jinja2
import pytest

from goldsmith.errors import InputError
from goldsmith.recipe.templating import BUILD_FACTS, PLACEHOLDER_FACTS, name_pattern, render, undeclared


@pytest.mark.parametrize(
    ("template", "pattern"),
    [
        ("base-{{ recipe_version }}-{{ timestamp }}", "base-*-*"),
        ("web-{{ a }}{{ b }}", "web-*"),
        ("plain", "plain"),
        ("{% if x %}a{% endif %}-b", "*a*-b"),
    ],
)
def test_name_pattern(template: str, pattern: str) -> None:
    assert name_pattern(template) == pattern


def test_undeclared_ignores_names_the_template_sets() -> None:
    assert undeclared("{% set a = 1 %}{{ a }}{% for i in items %}{{ i }}{% endfor %}{{ b }}") == {"items", "b"}
    with pytest.raises(jinja2.TemplateSyntaxError):
        undeclared("{{ a")


def test_render_is_strict_and_plain_text() -> None:
    assert render("{{ a }}<&>", {"a": "<x>"}) == "<x><&>"  # no HTML escaping
    assert render("{{ a }}\n", {"a": "1"}) == "1\n"
    with pytest.raises(InputError, match="undefined variable 'b'"):
        render("{{ a }}{{ b }}", {"a": "1"})
    with pytest.raises(InputError, match="undefined variable"):
        render("{{ a.missing }}", {"a": "1"})


def test_render_is_sandboxed() -> None:
    with pytest.raises(InputError):
        render("{{ ''.__class__.__mro__[1].__subclasses__() }}", {})


def test_placeholders_cover_every_fact() -> None:
    assert set(PLACEHOLDER_FACTS) == set(BUILD_FACTS)
