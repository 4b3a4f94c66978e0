"""Checks that need more than the schema: referenced files (the source recipe's too), templates and the
rendered image name.

They run on the raw YAML data, not the validated model, so a recipe with a schema mistake still gets
its missing files and undefined variables reported in the same run. Rules between fields of the image
section (sharing, encryption, regions, deprecation) run on the model: see publishing.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import jinja2
from jinja2 import nodes

from goldsmith.errors import InputError, Problem
from goldsmith.recipe import formats, templating
from goldsmith.recipe.hints import did_you_mean
from goldsmith.recipe.yaml_source import YamlDocument

FieldPath = tuple[str | int, ...]


@dataclass(frozen=True)
class CheckContext:
    """What the checks need to know besides the document."""

    doc: YamlDocument
    root: Path
    values: dict[str, str]      # variable values (placeholders for unresolved ones)
    declared: frozenset[str]    # variable names the recipe declares
    secret_names: frozenset[str]

    @property
    def known(self) -> set[str]:
        return set(self.declared) | set(templating.BUILD_FACTS)


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _strings(value: Any, path: FieldPath) -> Iterator[tuple[FieldPath, str]]:
    """(path, text) for a string, or for each string value of a mapping or list."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str):
                yield (*path, str(key)), item
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, str):
                yield (*path, i), item


def steps(data: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    """The provision steps that are mappings, with their index."""
    raw = _get(data, "provision")
    if isinstance(raw, list):
        yield from ((i, s) for i, s in enumerate(raw) if isinstance(s, dict))


def templated_fields(data: Any) -> Iterator[tuple[FieldPath, str]]:
    """Every string in the recipe that is rendered with jinja2."""
    yield from _strings(_get(data, "image", "name"), ("image", "name"))
    yield from _strings(_get(data, "image", "description"), ("image", "description"))
    yield from _strings(_get(data, "image", "tags"), ("image", "tags"))
    for i, step in steps(data):
        kind, base = step.get("type"), ("provision", i)
        if kind == "shell":
            yield from _strings(step.get("inline"), (*base, "inline"))
            yield from _strings(step.get("env"), (*base, "env"))
        if kind in ("file", "template"):
            yield from _strings(step.get("destination"), (*base, "destination"))
        if kind == "template":
            yield from _strings(step.get("variables"), (*base, "variables"))
    yield from _strings(_get(data, "validate", "env"), ("validate", "env"))


def check_templates(ctx: CheckContext) -> list[Problem]:
    """Syntax errors and undefined names in every templated string; secrets kept out of image metadata."""
    problems: list[Problem] = []
    for path, text in templated_fields(ctx.doc.data):
        try:
            used = templating.undeclared(text)
        except jinja2.TemplateSyntaxError as exc:
            problems.append(ctx.doc.problem(path, f"template syntax error: {exc.message}"))
            continue
        except RecursionError:
            problems.append(ctx.doc.problem(path, "template is nested too deeply"))
            continue
        for name in sorted(used - ctx.known):
            problems.append(ctx.doc.problem(path, f"undefined variable '{name}'{did_you_mean(name, ctx.known)}"))
        leaked = sorted(used & ctx.secret_names)
        if path[0] == "image" and leaked:
            message = f"secret variable '{leaked[0]}' would be visible to everyone who can see the image"
            problems.append(ctx.doc.problem(path, message))
    return problems


def check_image_name(ctx: CheckContext) -> list[Problem]:
    """Render image.name with placeholder facts and apply AWS's AMI name rule."""
    template = _get(ctx.doc.data, "image", "name")
    if not isinstance(template, str):
        return []
    facts = dict(templating.PLACEHOLDER_FACTS)
    for fact in ("name", "version"):
        value = _get(ctx.doc.data, fact)
        if isinstance(value, str | int | float):
            facts[f"recipe_{fact}"] = str(value)
    try:
        rendered = templating.render(template, {**ctx.values, **facts})
    except InputError:
        return []  # undefined names and syntax errors are reported by check_templates
    if formats.AMI_NAME_RE.fullmatch(rendered):
        return []
    bad = sorted({c for c in rendered if not formats.AMI_NAME_RE.fullmatch(c * 3)})
    detail = f"characters {', '.join(repr(c) for c in bad)} are not allowed" if bad else (
        f"it is {len(rendered)} characters long"
    )
    message = (
        f"rendered name {rendered!r} is not a valid AMI name: {detail} "
        "(3-128 letters, digits, spaces and ( ) [ ] . / - ' @ _)"
    )
    return [ctx.doc.problem(("image", "name"), message)]


def _template_names(source: str) -> dict[str, int]:
    """Names a template reads from its context, with the first line that reads each."""
    env = templating.environment()
    tree = env.parse(source)
    wanted = templating.undeclared(source)
    lines: dict[str, int] = {}
    for node in tree.find_all(nodes.Name):
        if node.name in wanted and node.ctx == "load":
            lines.setdefault(node.name, node.lineno)
    return {name: lines.get(name, 0) for name in wanted}


def _locate(ctx: CheckContext, path: FieldPath, value: str, want_file: bool) -> tuple[Path | None, list[Problem]]:
    """The file a recipe field names, or the problem with it (absolute, missing, outside the root)."""
    pure = PurePosixPath(value)
    if pure.is_absolute() or ".." in pure.parts or not value.strip():
        message = f"{value!r} must be a path relative to the project root ({ctx.root}), without '..'"
        return None, [ctx.doc.problem(path, message)]
    target = ctx.root / value
    if not target.exists():
        return None, [ctx.doc.problem(path, f"no such file: {value} (looked in {ctx.root})")]
    escape = escaping_path(ctx.root, value)
    if escape is not None:
        return None, [ctx.doc.problem(path, escape)]
    if want_file and not target.is_file():
        return None, [ctx.doc.problem(path, f"{value} is not a file")]
    return target, []


def escaping_path(root: Path, relative: str) -> str | None:
    """Why ``relative`` (or, for a directory, an entry inside it) reaches outside root through a symlink.

    Recipe files are uploaded to the instance, so a link to /proc/self/environ or ~/.aws/credentials
    would bake the host's secrets into the image. None when everything stays inside the root.
    """
    base = root.resolve()
    try:
        real = (root / relative).resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python 3.11)
        return f"cannot follow {relative}: {getattr(exc, 'strerror', None) or exc}"
    if not real.is_relative_to(base):
        return f"{relative} resolves outside the project root ({real} is not under {base})"
    if real.is_dir():
        for entry, target in _links_under(real):
            if not target.is_relative_to(base):
                shown = entry.relative_to(base) if entry.is_relative_to(base) else entry
                return f"{relative}: {shown} resolves outside the project root ({target} is not under {base})"
    return None


def _links_under(directory: Path) -> Iterator[tuple[Path, Path]]:
    """(link, where it resolves) for every symlink in a tree, following links to directories once."""
    seen: set[Path] = set()
    pending = [directory]
    while pending:
        top = pending.pop()
        if top.resolve() in seen:
            continue
        seen.add(top.resolve())
        for current, dirs, files in os.walk(top):
            for name in (*dirs, *files):
                entry = Path(current) / name
                if entry.is_symlink():
                    try:
                        target = entry.resolve()
                    except RuntimeError:  # a symlink loop reads nothing from outside
                        continue
                    yield entry, target
                    if target.is_dir():
                        pending.append(target)


def check_files(ctx: CheckContext) -> list[Problem]:
    """Every file the recipe references exists; template files use only known names."""
    problems: list[Problem] = []
    for i, step in steps(ctx.doc.data):
        kind = step.get("type")
        field = "script" if kind == "shell" else "source"
        value = step.get(field)
        if kind not in ("shell", "file", "template") or not isinstance(value, str):
            continue
        target, found = _locate(ctx, ("provision", i, field), value, want_file=kind != "file")
        problems.extend(found)
        if target is not None and kind == "template":
            extra = step.get("variables")
            names = set(extra) if isinstance(extra, dict) else set()
            problems.extend(_check_template_file(ctx, ("provision", i, "source"), value, target, names))
    suites = _get(ctx.doc.data, "validate", "suites")
    for path, suite in _strings(suites, ("validate", "suites")) if isinstance(suites, list) else ():
        problems.extend(_locate(ctx, path, suite, want_file=False)[1])
    recipe = _get(ctx.doc.data, "source", "recipe")
    if isinstance(recipe, str) and formats.RECIPE_NAME_RE.fullmatch(recipe):
        try:
            source_recipe_path(ctx.root, recipe)
        except InputError as exc:
            problems.append(ctx.doc.problem(("source", "recipe"), str(exc)))
    return problems


RECIPE_SUFFIXES = (".yaml", ".yml")


def source_recipe_path(root: Path, name: str) -> Path:
    """The file of the recipe named by ``source.recipe: <name>``: recipes/<name>.yaml, else recipes/<name>.yml,
    under the project root (LoadedRecipe.root). The one rule for ``invoke check`` and the bake.

    Raises InputError (exit 2) saying where it looked when there is no such file (or the name is not a
    recipe name, which would let it reach outside recipes/).
    """
    expected = " or ".join(f"recipes/{name}{suffix}" for suffix in RECIPE_SUFFIXES)
    if formats.RECIPE_NAME_RE.fullmatch(name):
        for suffix in RECIPE_SUFFIXES:
            candidate = root / "recipes" / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
    raise InputError(f"no recipe '{name}': expected {expected} in {root}")


def _check_template_file(
    ctx: CheckContext, path: FieldPath, shown: str, target: Path, step_names: set[str]
) -> list[Problem]:
    """Undefined names and syntax errors inside a template file, reported at the recipe field."""
    try:
        source = target.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return [ctx.doc.problem(path, f"{shown} is not UTF-8 text")]
    except OSError as exc:
        return [ctx.doc.problem(path, f"cannot read {shown}: {exc.strerror or exc}")]
    try:
        used = _template_names(source)
    except jinja2.TemplateSyntaxError as exc:
        return [ctx.doc.problem(path, f"{shown}:{exc.lineno}: template syntax error: {exc.message}")]
    except RecursionError:
        return [ctx.doc.problem(path, f"{shown}: template is nested too deeply")]
    known = ctx.known | step_names
    return [
        ctx.doc.problem(path, f"{shown}:{line}: undefined variable '{name}'{did_you_mean(name, known)}")
        for name, line in sorted(used.items())
        if name not in known
    ]


def run_checks(ctx: CheckContext) -> list[Problem]:
    """All checks beyond the schema."""
    return check_templates(ctx) + check_image_name(ctx) + check_files(ctx)
