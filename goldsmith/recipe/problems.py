"""Turn pydantic's validation errors into located, plain-worded Problems.

pydantic reports `('provision', 2, 'shell', 'timeout')` and "Input should be a valid integer"; a user
wants `recipes/web.yaml:14:5: provision[2].timeout: expected a whole number, got 'ten'`.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from goldsmith.errors import Problem
from goldsmith.recipe.formats import FieldProblem
from goldsmith.recipe.hints import did_you_mean, join_known, show
from goldsmith.recipe.yaml_source import YamlDocument

Loc = tuple[str | int, ...]


def _unwrap(tp: Any) -> Any:
    """Strip Annotated and Optional so the real type shows."""
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
            continue
        if get_origin(tp) in (Union, types.UnionType):
            members = [a for a in get_args(tp) if a is not type(None)]
            if len(members) == 1:
                tp = members[0]
                continue
        return tp


def _model_field(model: type[BaseModel], name: str) -> Any:
    for field_name, info in model.model_fields.items():
        if name in (field_name, info.alias):
            return info.annotation
    return None


def _tags(member: Any) -> tuple[Any, ...]:
    """The Literal values of a union member's `type` field (empty if it has none)."""
    if isinstance(member, type) and issubclass(member, BaseModel) and "type" in member.model_fields:
        return get_args(member.model_fields["type"].annotation)
    return ()


def _tag_member(union: Any, tag: str | int) -> Any:
    return next((member for member in get_args(union) if tag in _tags(member)), None)


def resolve(root: type[BaseModel], loc: Loc) -> tuple[list[str | int], Any]:
    """The user-facing path for a pydantic loc (union tags removed) and the type found there."""
    tp: Any = root
    path: list[str | int] = []
    for part in loc:
        tp = _unwrap(tp)
        origin = get_origin(tp)
        if origin in (Union, types.UnionType):
            member = _tag_member(tp, part)
            if member is not None:
                tp = member
                continue
        path.append(part)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            tp = _model_field(tp, str(part))
        elif origin is list:
            tp = get_args(tp)[0]
        elif origin is dict:
            tp = get_args(tp)[1]
        else:
            tp = None
    return path, _unwrap(tp)


def _known_fields(tp: Any) -> list[str]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [info.alias or name for name, info in tp.model_fields.items()]
    return []


def _union_tags(tp: Any) -> list[str]:
    return [str(tag) for member in get_args(tp) for tag in _tags(member)]


def problems_from(exc: ValidationError, doc: YamlDocument, root: type[BaseModel]) -> list[Problem]:
    """One Problem per pydantic error, located in the YAML document."""
    return [_one(error, doc, root) for error in exc.errors()]


def _one(error: ErrorDetails, doc: YamlDocument, root: type[BaseModel]) -> Problem:
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    loc = tuple(error["loc"])
    at_key = bool(loc) and loc[-1] == "[key]"  # a dict key failed its own validation
    path, tp = resolve(root, loc[:-1] if at_key else loc)
    if kind == "extra_forbidden":
        name = str(path[-1])
        _, parent = resolve(root, tuple(error["loc"][:-1]))
        message = f"unknown field '{name}'{did_you_mean(name, _known_fields(parent))}"
        return doc.problem(path, message, key=True)
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        known = join_known(_union_tags(tp))
        if kind == "union_tag_not_found":
            return doc.problem([*path, "type"], f"required field is missing (known: {known})")
        return doc.problem([*path, "type"], f"unknown {show(ctx.get('tag'))} (known: {known})")
    if kind == "value_error" and isinstance(ctx.get("error"), FieldProblem):
        problem: FieldProblem = ctx["error"]
        return doc.problem([*path, *problem.path], problem.message, key=problem.key or at_key)
    if kind == "invalid_key":
        return doc.problem(path, f"keys must be text, got {show(value)}", key=True)
    return doc.problem(path, _message(kind, value, ctx, tp, error["msg"]))


_EXPECTED = {
    "int": "a whole number",
    "bool": "true or false",
    "string": "text",
    "list": "a list",
    "dict": "a mapping",
    "model": "a mapping",
    "datetime": "a date and time like 2026-06-30 or 2026-06-30T12:00:00Z",
    "date": "a date like 2026-06-30",
    "float": "a number",
}


def _message(kind: str, value: Any, ctx: dict[str, Any], tp: Any, default: str) -> str:
    if kind == "missing":
        return "required field is missing"
    if kind == "literal_error":
        known = [str(v) for v in get_args(tp)] if get_origin(tp) is Literal else []
        return f"unknown {show(value)} (known: {join_known(known) or ctx.get('expected', '')})"
    bounds = {"greater_than": "greater than", "greater_than_equal": "at least",
              "less_than": "less than", "less_than_equal": "at most"}
    if kind in bounds:
        limit = next(iter(ctx.values()), "")
        return f"must be {bounds[kind]} {limit}, got {show(value)}"
    if kind == "recursion_loop":
        return "this value refers to itself (a YAML alias loop)"
    if kind == "value_error":
        return str(ctx.get("error", default))
    family = kind.split("_")[0]
    if family in _EXPECTED:
        hint = "; quote it if you mean text" if family == "string" and isinstance(value, bool) else ""
        return f"expected {_EXPECTED[family]}, got {show(value)}{hint}"
    return default
