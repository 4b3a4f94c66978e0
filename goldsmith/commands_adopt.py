"""What the adoption tasks do (init, import-packer), as plain functions tests call directly; tasks_adopt.py
only adapts them to invoke. No AWS call in either."""

from __future__ import annotations

from pathlib import Path


def init(directory: str) -> str:
    """Scaffold a Goldsmith project in `directory` (goldsmith.adopt.scaffold); the summary of what was written
    and skipped. Bad input (a file where a directory must be, nothing left to write) is InputError, exit 2."""
    from goldsmith.adopt.scaffold import init as scaffold

    return scaffold(Path(directory)).summary()


def import_packer(template: str, output: str | None) -> tuple[str, list[str]]:
    """Convert a Packer amazon-ebs template (goldsmith.adopt.packer_import): (the recipe's text, or a line
    saying where it was written and that it passed the check; what did not convert, as file:line lines)."""
    from goldsmith.adopt.packer_import import import_packer as convert

    imported = convert(Path(template), Path(output) if output else None)
    if output is None:
        return imported.text, imported.report()
    return f"wrote {output}: passes `goldsmith check`; {len(imported.notes)} parts not converted", imported.report()
