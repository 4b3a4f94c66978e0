"""What the adoption tasks do (init, import-packer), as plain functions tests call directly; tasks_adopt.py
only adapts them to invoke. No AWS call in either."""

from __future__ import annotations

from pathlib import Path


def init(directory: str) -> str:
    """Scaffold a Goldsmith project in `directory` (goldsmith.adopt.scaffold); the summary of what was written
    and skipped. Bad input (a file where a directory must be, nothing left to write) is InputError, exit 2."""
    from goldsmith.adopt.scaffold import init as scaffold

    return scaffold(Path(directory)).summary()
