"""yaml_source: positions of any path, duplicate keys anywhere, and every failure as a located Problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from goldsmith.errors import RecipeError
from goldsmith.recipe.yaml_source import MAX_BYTES, field_name, parse_text, read_document, read_text

TEXT = """\
name: web
provision:
  - type: shell
    inline:
      - echo hi
  - {type: file, source: a}
"""


def test_positions_of_values_keys_and_missing_fields() -> None:
    doc, problems = parse_text(TEXT, "r.yaml")
    assert doc is not None and problems == []
    assert doc.position(("name",)) == (1, 7)
    assert doc.position(("provision", 0, "inline", 0)) == (5, 9)
    assert doc.position(("provision", 1, "source")) == (6, 26)
    assert doc.position(("provision", 1, "source"), key=True) == (6, 18)
    assert doc.position(("provision", 1, "destination")) == (6, 5)  # missing: the parent mapping
    assert doc.position(("provision", 7)) == (3, 3)  # out of range: the list


def test_field_names() -> None:
    assert field_name(("provision", 2, "type")) == "provision[2].type"
    assert field_name(()) == ""
    assert field_name(("image", "tags", "Name")) == "image.tags.Name"


def test_duplicate_keys_are_found_inside_lists() -> None:
    _, problems = parse_text("a:\n  - {x: 1, y: 2, x: 3}\n", "r.yaml")
    assert [str(p) for p in problems] == [
        "r.yaml:2:18: a[0].x: duplicate key 'x' (first given on line 2); remove one of them"
    ]


def test_merge_keys_are_not_duplicates() -> None:
    doc, problems = parse_text("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n", "r.yaml")
    assert problems == [] and doc is not None
    assert doc.data["other"] == {"x": 1, "y": 2}


def test_invalid_date_is_a_located_problem() -> None:
    doc, problems = parse_text("name: r\ndeprecate_at: 2025-13-45\n", "r.yaml")
    assert doc is None
    assert str(problems[0]).startswith("r.yaml:2:15: cannot read this value")


def test_disallowed_character_is_located() -> None:
    _, problems = parse_text("name: r\ndescription: a\x07b\n", "r.yaml")
    assert str(problems[0]) == "r.yaml:2:15: character '\\x07' is not allowed in YAML"


def test_unsafe_tags_are_refused() -> None:
    _, problems = parse_text("name: !!python/object:os.system {}\n", "r.yaml")
    assert problems[0].line == 1 and "could not determine a constructor" in problems[0].message


def test_large_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("# " + "x" * MAX_BYTES + "\n")
    with pytest.raises(RecipeError, match="larger than 1 MiB"):
        read_text(path, "big.yaml")


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"nope\.yaml: no such file"):
        read_document(tmp_path / "nope.yaml", "nope.yaml")
    with pytest.raises(RecipeError, match="is a directory"):
        read_document(tmp_path, "dir")


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfname: r\n")
    assert read_document(path, "bom.yaml").data == {"name": "r"}


def test_alias_loops_do_not_hang() -> None:
    doc, problems = parse_text("a: &x [*x]\n", "r.yaml")
    assert problems == [] and doc is not None


def test_libyaml_parses_valid_files_without_the_pure_python_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast parser must succeed on its own: it once failed on every file (a super() call in a method
    shared with the pure-Python loader), and the silent fallback made every recipe parse ~10x slower."""
    import yaml

    from goldsmith.recipe import yaml_source

    if not getattr(yaml, "__with_libyaml__", False):
        pytest.skip("PyYAML without libyaml")
    parsed: list[str] = []
    real = yaml_source._parse

    def spy(text: str, label: str, loader_class: type[yaml.SafeLoader]) -> object:
        parsed.append(loader_class.__name__)
        return real(text, label, loader_class)

    monkeypatch.setattr(yaml_source, "_parse", spy)
    doc, problems = parse_text(TEXT + "created: 2025-01-02\nsize: 8\n", "r.yaml")
    assert parsed == ["_FastLoader"] and problems == [] and doc is not None
    assert doc.position(("provision", 1, "source")) == (6, 26)
    _, problems = real("name: web\ncreated: 2025-13-01\n", "r.yaml", yaml_source._FastLoader)
    assert [(p.line, p.column) for p in problems] == [(2, 10)] and "quote it" in problems[0].message
