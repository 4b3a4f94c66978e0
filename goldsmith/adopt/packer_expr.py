"""Packer's template expressions -> Goldsmith's jinja2 (recipe variables and build facts).

JSON templates use Go templates (`{{user `x`}}`, `{{timestamp}}`, `{{isotime "..."}}`, `{{uuid}}`); HCL2 uses
`${var.x}`, `${local.x}`, `timestamp()`, `uuidv4()`. What has a meaning in a recipe maps onto it: a variable
onto the recipe variable of the same name, the build's time onto `timestamp`, a unique id onto `build_id`, the
build's name onto `recipe_name`. Anything else (env lookups, arbitrary functions, other builders' data) cannot
be evaluated before a bake, so the field is reported, never written half-converted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

GO = re.compile(r"\{\{\s*(.*?)\s*\}\}")
HCL = re.compile(r"(?<!\$)\$\{\s*(.*?)\s*\}")  # `$${` is HCL's escape for a literal `${` (shell)
_USER = re.compile(r"^user\s+[`\"](\w+)[`\"]$")
_TIME_FUNCS = ("timestamp", "isotime", "formatdate", "legacy_isotime")
_CLEANERS = ("clean_resource_name", "clean_ami_name")


class Unconvertible(ValueError):
    """An expression with no recipe equivalent; the message says which."""


@dataclass
class Expressions:
    """Rewrites one template's expressions; remembers the variables and approximations it used."""

    syntax: str  # "json" | "hcl"
    locals: Mapping[str, Any] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    approximations: list[str] = field(default_factory=list)

    def convert(self, value: Any) -> Any:
        """The value with every string's expressions rewritten; Unconvertible when one has no equivalent."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.convert(v) for v in value]
        if isinstance(value, dict):
            return {str(k): self.convert(v) for k, v in value.items()}
        return value

    def text(self, value: str) -> str:
        if self.syntax == "json":
            return GO.sub(lambda m: self._go(m.group(1), m.group(0)), value)
        return HCL.sub(lambda m: self._hcl(m.group(1), m.group(0)), value).replace("$${", "${")

    def _go(self, expr: str, whole: str) -> str:
        head, _, pipe = expr.partition("|")
        head = head.strip()
        if pipe and pipe.strip() not in _CLEANERS:
            raise Unconvertible(f"{whole}: the filter {pipe.strip()!r} has no recipe equivalent")
        if match := _USER.match(head):
            self.used.add(match.group(1))
            return "{{ " + match.group(1) + " }}"
        return self._fact(head.split()[0] if head else head, whole)

    def _hcl(self, expr: str, whole: str) -> str:
        if expr.startswith("var."):
            name = expr[4:]
            if not re.fullmatch(r"\w+", name):
                raise Unconvertible(f"{whole}: only a whole variable converts (not an attribute or index of one)")
            self.used.add(name)
            return "{{ " + name + " }}"
        if expr.startswith("local."):
            name = expr[6:]
            if name not in self.locals:
                raise Unconvertible(f"{whole}: no such local")
            local = self.locals[name]
            if isinstance(local, str) and any(f"{fn}(" in local for fn in _TIME_FUNCS):
                return self._fact("timestamp", whole)
            if isinstance(local, str):
                return self.text(local)
            raise Unconvertible(f"{whole}: a local that is not text")
        if expr in ("path.root", "path.cwd"):
            return "."  # file paths are resolved against the template's directory by the converter
        if expr in ("source.name", "build.name"):
            return "{{ recipe_name }}"
        function = expr.split("(")[0].strip()
        return self._fact(function, whole)

    def _fact(self, name: str, whole: str) -> str:
        if name in ("timestamp", "isotime", "formatdate", "legacy_isotime", "regex_replace"):
            if name != "timestamp":
                self.approximations.append(f"{whole} -> {{{{ timestamp }}}} (YYYYMMDDhhmmss, UTC): reformat with "
                                           "jinja2 if the name's format matters")
            return "{{ timestamp }}"
        if name in ("uuid", "uuidv4", "uuidv5"):
            return "{{ build_id }}"
        if name == "template_dir":
            return "."
        if name in ("build_name", "build_type"):
            return "{{ recipe_name }}"
        if name == "env":
            raise Unconvertible(f"{whole}: environment lookups happen in recipe variables: declare a variable "
                                "and set GOLDSMITH_VAR_<NAME>")
        raise Unconvertible(f"{whole}: no recipe equivalent")
