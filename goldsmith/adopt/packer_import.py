"""`goldsmith import-packer TEMPLATE [--output PATH]`: a Packer amazon-ebs template as a Goldsmith recipe.

Reads (packer_read), converts (packer_convert), writes the recipe YAML with the list of what did not convert
at its top (each with the template's file:line and what to do instead), and checks what it wrote with the
recipe loader, as `invoke check` would: a recipe that does not pass is reported, never left silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from goldsmith.adopt.packer_convert import Converter, Note
from goldsmith.adopt.packer_read import read
from goldsmith.errors import InputError


@dataclass(frozen=True)
class Imported:
    text: str  # the recipe file's text
    notes: list[Note]
    template: Path

    def report(self) -> list[str]:
        """What did not convert, one line each: file:line: what (instead: ...)."""
        return [f"{self.template}:{n.line}: {n.what} (instead: {n.instead})" for n in self.notes]


class _Dumper(yaml.SafeDumper):
    """Block style, keys in the order given."""


def _none(dumper: yaml.SafeDumper, _: None) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:null", "null")


_Dumper.add_representer(type(None), _none)


def convert(template: Path, root: Path) -> Imported:
    """The recipe for `template`, with file paths relative to the project `root`."""
    conversion = Converter(read(template), root).run()
    notes = conversion.notes
    header = [f"Converted from the Packer template {template} by `goldsmith import-packer`.",
              f"Check it with `goldsmith check`; {len(notes)} parts of the template did not convert as they were:"]
    header += [f"  line {n.line}: {n.what} (instead: {n.instead})" for n in notes]
    body = yaml.dump(conversion.recipe, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120,
                     allow_unicode=True)
    return Imported("".join(f"# {line}\n" for line in header) + body, notes, template)


def import_packer(template: Path, output: Path | None) -> Imported:
    """Convert, and write to `output` (never over an existing file) then check it; InputError (exit 2) when the
    template is not an amazon-ebs one, cannot be read, or the written recipe does not pass the check."""
    if output is not None and output.exists():
        raise InputError(f"--output {output}: exists; import-packer never overwrites a file")
    from goldsmith.recipe.loader import find_root, load_recipe

    root = find_root(output) if output is not None else Path.cwd()
    imported = convert(template, root)
    if output is None:
        return imported
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(imported.text, encoding="utf-8")
    try:
        load_recipe(output, {}, {})
    except InputError as exc:
        raise InputError(f"{output}: written, but it does not pass the check; fix what is listed at its top "
                         f"and below:\n{exc}") from exc
    return imported
