"""Read a YAML file into plain data while keeping every node, so any path can be mapped to line:column.

PyYAML silently keeps the last of two equal keys and raises bare ValueErrors for values such as
`2025-13-01`; both become located problems here. Every failure is a RecipeError, never a YAML error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from goldsmith.errors import Problem, RecipeError
from goldsmith.recipe.hints import show

MAX_BYTES = 1024 * 1024
Path_ = Sequence[str | int]


def _located(base: type[yaml.SafeLoader]) -> Any:
    """`base`'s construct_object, whose value errors carry the position of the offending node."""

    def construct_object(self: yaml.SafeLoader, node: Node, deep: bool = False) -> Any:
        try:
            return base.construct_object(self, node, deep)
        except (ValueError, TypeError, OverflowError) as exc:
            message = f"cannot read this value ({exc}); quote it"
            raise ConstructorError(None, None, message, node.start_mark) from exc

    return construct_object


class _Loader(yaml.SafeLoader):
    """SafeLoader whose value errors carry the position of the offending node."""

    construct_object = _located(yaml.SafeLoader)


_CSafeLoader: type[yaml.SafeLoader] | None = getattr(yaml, "CSafeLoader", None)


class _FastLoader(_CSafeLoader or yaml.SafeLoader):  # type: ignore[misc]
    """libyaml's parser (~10x faster: a pipeline loads many recipes), with _Loader's located value errors.
    Its syntax error messages are terser, so a file it refuses is parsed again by _Loader for the report."""

    construct_object = _located(_CSafeLoader or yaml.SafeLoader)


def field_name(path: Path_) -> str:
    """`provision[2].type` for ("provision", 2, "type")."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


@dataclass(frozen=True)
class YamlDocument:
    """Parsed data plus the node tree it came from."""

    label: str
    data: Any
    root: Node

    def _walk(self, path: Path_) -> tuple[Node, Node | None, int]:
        """Deepest node along path, the key node that led to it, and how many parts matched."""
        node, key, depth = self.root, None, 0
        for part in path:
            child = _child(node, part)
            if child is None:
                break
            key, node = child
            depth += 1
        return node, key, depth

    def position(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        """1-based line:column of the value at path (or its key), else of the deepest existing parent."""
        node, key_node, depth = self._walk(path)
        if key and key_node is not None and depth == len(path):
            node = key_node
        return node.start_mark.line + 1, node.start_mark.column + 1

    def problem(self, path: Path_, message: str, *, key: bool = False) -> Problem:
        """A Problem located at path."""
        line, column = self.position(path, key=key)
        return Problem(self.label, line, column, field_name(path), message)


def _child(node: Node, part: str | int) -> tuple[Node | None, Node] | None:
    if isinstance(node, MappingNode):
        for key, value in reversed(node.value):
            if isinstance(key, ScalarNode) and key.value == str(part):
                return key, value
    elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return None, node.value[part]
    return None


def read_document(path: Path, label: str) -> YamlDocument:
    """Read and parse path; raises RecipeError for unreadable, empty or malformed files and duplicate keys."""
    document, problems = parse_text(read_text(path, label), label)
    if problems or document is None:
        raise RecipeError(problems)
    return document


def read_mapping(path: Path, label: str, kind: str, fields: str) -> tuple[YamlDocument, list[Problem]]:
    """Read and parse a file whose top level must be a mapping (a `kind`, "recipe" or "pipeline", of
    `fields`, e.g. "name, source, image, ..."): the document and the problems found so far (duplicate keys),
    or a RecipeError when there is no usable mapping at all."""
    document, problems = parse_text(read_text(path, label), label)
    if document is None:
        raise RecipeError(problems)
    if not isinstance(document.data, dict):
        line, column = document.position(())
        raise RecipeError([Problem(label, line, column, "", f"a {kind} must be a mapping of fields ({fields}), "
                                   f"got {show(document.data)}")])
    return document, problems


def read_text(path: Path, label: str) -> str:
    """The file's text: UTF-8, at most 1 MiB, not empty."""
    def fail(message: str, line: int = 0, column: int = 0) -> RecipeError:
        return RecipeError([Problem(label, line, column, "", message)])

    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise fail("no such file") from None
    except IsADirectoryError:
        raise fail("this is a directory, not a recipe file") from None
    except OSError as exc:
        raise fail(f"cannot read the file: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise fail("the file is larger than 1 MiB; a recipe should be a few kilobytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        message = f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x} cannot be decoded)"
        raise fail(message, line, column) from None
    if not text.strip():
        raise fail("the file is empty; a recipe needs at least name, source and image")
    return text


def parse_text(text: str, label: str) -> tuple[YamlDocument | None, list[Problem]]:
    """Parse YAML text; returns the document (None if unusable) and the problems found."""
    document, problems = _parse(text, label, _FastLoader)
    if document is None and _FastLoader is not _Loader:
        return _parse(text, label, _Loader)  # the pure-Python parser says what is wrong more plainly
    return document, problems


def _parse(text: str, label: str, loader_class: type[yaml.SafeLoader]) -> tuple[YamlDocument | None, list[Problem]]:
    try:
        loader = loader_class(text)
    except yaml.reader.ReaderError as exc:
        return None, [_reader_problem(exc, text, label)]
    try:
        root = loader.get_single_node()
        if root is None:
            message = "the file has only comments; a recipe needs name, source and image"
            return None, [Problem(label, 0, 0, "", message)]
        problems = duplicate_keys(root, label)
        data = loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_problem(exc, label)]
    except yaml.reader.ReaderError as exc:
        return None, [_reader_problem(exc, text, label)]
    except yaml.YAMLError as exc:
        return None, [Problem(label, 0, 0, "", f"not valid YAML: {exc}")]
    except RecursionError:
        return None, [Problem(label, 0, 0, "", "the YAML is nested too deeply to be a recipe")]
    finally:
        loader.dispose()
    return YamlDocument(label, data, root), problems


def _reader_problem(exc: yaml.reader.ReaderError, text: str, label: str) -> Problem:
    line, column = _offset_position(text, exc.position)
    character = chr(exc.character) if isinstance(exc.character, int) else str(exc.character)
    return Problem(label, line, column, "", f"character {character!r} is not allowed in YAML")


def _offset_position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _syntax_problem(exc: yaml.MarkedYAMLError, label: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
    message = exc.problem or exc.context or "not valid YAML"
    if exc.context and exc.problem:
        started = exc.context_mark
        where = f" that starts on line {started.line + 1}, column {started.column + 1}" if started else ""
        message = f"{exc.problem} ({exc.context}{where})"
    if "'\\t'" in message:
        message = "a tab is used for indentation; YAML needs spaces"
    prefix = "" if isinstance(exc, ConstructorError) else "YAML syntax error: "
    return Problem(label, line, column, "", prefix + message)


def duplicate_keys(root: Node, label: str) -> list[Problem]:
    """Every key that appears twice in one mapping (PyYAML would keep only the last)."""
    problems: list[Problem] = []
    seen_nodes: set[int] = set()
    stack: list[tuple[Node, tuple[str | int, ...]]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, SequenceNode):
            stack.extend((child, (*path, i)) for i, child in enumerate(node.value))
        elif isinstance(node, MappingNode):
            problems.extend(_duplicates_in(node, path, label))
            for key, value in node.value:
                name = key.value if isinstance(key, ScalarNode) else "?"
                stack.append((value, (*path, name)))
    return problems


def _duplicates_in(node: MappingNode, path: tuple[str | int, ...], label: str) -> list[Problem]:
    problems: list[Problem] = []
    first: dict[str, Node] = {}
    for key, _ in node.value:
        if not isinstance(key, ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
            continue
        if key.value in first:
            message = (
                f"duplicate key '{key.value}' (first given on line {first[key.value].start_mark.line + 1});"
                " remove one of them"
            )
            line, column = key.start_mark.line + 1, key.start_mark.column + 1
            problems.append(Problem(label, line, column, field_name((*path, key.value)), message))
        first.setdefault(key.value, key)
    return problems
