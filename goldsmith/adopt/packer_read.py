"""Read a Packer template (JSON, or HCL2 `*.pkr.hcl`) into one neutral shape the converter works on.

Why a shape of our own: Packer's two syntaxes say the same things differently (JSON's `builders` list and
`{{user `x`}}`, HCL2's `source "amazon-ebs" "name"` blocks and `${var.x}`); the converter should map fields
once. Values are plain Python (str, int, bool, list, dict); strings keep the template's own expressions,
which goldsmith.adopt.packer_expr rewrites. Lines are found in the text (neither json nor python-hcl2 gives
positions), as the first line at or after the builder's own that names the key: good enough to point a
person at the right place.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from goldsmith.errors import InputError

BUILDER = "amazon-ebs"


@dataclass(frozen=True)
class Variable:
    name: str
    default: Any  # None: the template requires a value
    sensitive: bool
    line: int


@dataclass(frozen=True)
class Provisioner:
    type: str
    fields: dict[str, Any]
    line: int


@dataclass
class Template:
    """One amazon-ebs source of a template and what its builds run on it."""

    path: Path
    syntax: str  # "json" | "hcl"
    name: str  # the source's (HCL) or builder's (JSON) name
    source: dict[str, Any]
    source_line: int
    variables: list[Variable] = field(default_factory=list)
    locals: dict[str, Any] = field(default_factory=dict)
    provisioners: list[Provisioner] = field(default_factory=list)
    others: list[tuple[int, str]] = field(default_factory=list)  # (line, what) parts with no recipe equivalent
    lines: list[str] = field(default_factory=list)

    def line_of(self, key: str, start: int | None = None) -> int:
        """The first line at or after `start` (default: the source's) naming `key`; else `start`."""
        first = self.source_line if start is None else start
        return find_line(self.lines, key, first)

    def line_containing(self, text: str) -> int:
        """The first line at or after the source's that contains `text`; else the source's."""
        for number in range(self.source_line, len(self.lines) + 1):
            if text in self.lines[number - 1]:
                return number
        return self.source_line

    def where(self, line: int) -> str:
        return f"{self.path}:{line}"


def find_line(lines: list[str], key: str, start: int) -> int:
    pattern = re.compile(rf'^\s*"?{re.escape(key)}"?\s*[:={{]|^\s*{re.escape(key)}\s')
    for number in range(max(start, 1), len(lines) + 1):
        if pattern.search(lines[number - 1]):
            return number
    return start


def read(path: Path) -> Template:
    """The template's amazon-ebs source (the first one); InputError (exit 2) naming file and line otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the template ({exc})") from exc
    if text.lstrip().startswith("{") or path.suffix == ".json":
        return _read_json(path, text)
    return _read_hcl(path, text)


def _read_json(path: Path, text: str) -> Template:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path}:1: a Packer JSON template is an object with `builders`")
    lines = text.splitlines()
    builders = [b for b in data.get("builders", []) if isinstance(b, dict)]
    ours = [b for b in builders if b.get("type") == BUILDER]
    if not ours:
        kinds = ", ".join(sorted({str(b.get("type")) for b in builders})) or "none"
        raise InputError(f"{path}:{find_line(lines, 'builders', 1)}: no {BUILDER} builder (builders: {kinds}); "
                         "import-packer converts amazon-ebs only")
    builder = dict(ours[0])
    start = _nth_line(lines, re.compile(rf'"type"\s*:\s*"{BUILDER}"'), 0)
    sensitive = set(data.get("sensitive-variables", []))
    variables = [Variable(name, default, name in sensitive, find_line(lines, name, find_line(lines, "variables", 1)))
                 for name, default in (data.get("variables") or {}).items()]
    name = str(builder.get("name") or path.name.split(".")[0])
    template = Template(path, "json", name, builder, start, variables, lines=lines)
    position = start
    for provisioner in data.get("provisioners", []):
        position = _nth_line(lines, re.compile(rf'"type"\s*:\s*"{re.escape(str(provisioner.get("type")))}"'),
                             position)
        fields = {k: v for k, v in provisioner.items() if k != "type"}
        template.provisioners.append(Provisioner(str(provisioner.get("type")), fields, position))
    for key in ("post-processors", "post-processor"):
        if key in data:
            template.others.append((find_line(lines, key, 1), key))
    if len(ours) > 1:
        template.others.append((_nth_line(lines, re.compile(rf'"type"\s*:\s*"{BUILDER}"'), start),
                                f"a second {BUILDER} builder (only the first is converted)"))
    return template


def _nth_line(lines: list[str], pattern: re.Pattern[str], after: int) -> int:
    """The first line after `after` matching `pattern` (1-based), else after + 1."""
    for number in range(after + 1, len(lines) + 1):
        if pattern.search(lines[number - 1]):
            return number
    return after + 1


def _read_hcl(path: Path, text: str) -> Template:
    import hcl2  # python-hcl2: a maintained HCL2 parser (lark grammar)

    try:
        data = hcl2.loads(text)
    except Exception as exc:  # python-hcl2 raises lark's errors, which carry line and column
        line = getattr(exc, "line", None) or 1
        raise InputError(f"{path}:{line}: not valid HCL2: {str(exc).splitlines()[0]}") from exc
    lines = text.splitlines()
    sources = [(kind, name, body) for block in data.get("source", []) for kind, named in block.items()
               for name, body in named.items()]
    ours = [(unquote(name), body) for kind, name, body in sources if unquote(kind) == BUILDER]
    if not ours:
        kinds = ", ".join(sorted({unquote(k) for k, _, _ in sources})) or "none"
        raise InputError(f"{path}:{_hcl_block_line(lines, 'source', '')}: no source \"{BUILDER}\" block (sources: "
                         f"{kinds}); import-packer converts amazon-ebs only")
    name, body = ours[0]
    start = _hcl_block_line(lines, "source", f'"{BUILDER}" "{name}"')
    variables = []
    for block in data.get("variable", []):
        for quoted, spec in block.items():
            var = unquote(quoted)
            variables.append(Variable(var, _clean(spec.get("default")), spec.get("sensitive") is True,
                                      _hcl_block_line(lines, "variable", f'"{var}"')))
    locals_: dict[str, Any] = {}
    for block in data.get("locals", []):
        locals_.update({k: _clean(v) for k, v in block.items() if not k.startswith("__")})
    template = Template(path, "hcl", name, _clean(body), start, variables, locals_, lines=lines)
    position = _hcl_block_line(lines, "build", "")
    for build in data.get("build", []):
        for provisioner in build.get("provisioner", []):
            for quoted, spec in provisioner.items():
                kind = unquote(quoted)
                position = _nth_line(lines, re.compile(rf'^\s*provisioner\s+"{re.escape(kind)}"'), position)
                template.provisioners.append(Provisioner(kind, _clean(spec), position))
        for key in ("post-processor", "post-processors"):
            if key in build:
                template.others.append((_hcl_block_line(lines, key, ""), key))
    if len(ours) > 1:
        template.others.append((_hcl_block_line(lines, "source", f'"{BUILDER}" "{ours[1][0]}"'),
                                f"a second {BUILDER} source (only the first is converted)"))
    return template


def _hcl_block_line(lines: list[str], kind: str, labels: str) -> int:
    pattern = re.compile(rf"^\s*{re.escape(kind)}\s*{re.escape(labels)}")
    return _nth_line(lines, pattern, 0)


def unquote(value: str) -> str:
    """python-hcl2 keeps a quoted label's or literal's quotes: "name" -> name."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            return str(json.loads(value))
        except json.JSONDecodeError:
            return value[1:-1]
    return value


def _clean(value: Any) -> Any:
    """python-hcl2's output as plain values: block markers dropped, keys unquoted, single blocks unwrapped."""
    if isinstance(value, dict):
        return {unquote(k): _clean(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str):
        return unquote(value)  # a literal and "${expr}" mean the same from here on
    return value
