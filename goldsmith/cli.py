"""The `goldsmith` command (the same tasks as `invoke`), and exit code 2 for argument mistakes.

Invoke's own parser exits 1 when a flag is unknown or an argument is missing; Goldsmith promises 2 for
every kind of bad input, so both entry points map invoke's ParseError to Exit(code=2).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from invoke.exceptions import Exit, ParseError
from invoke.program import Program

from goldsmith import __version__


def exit_2_on_parse_errors() -> None:
    """Make invoke's Program turn argument-parsing errors into exit code 2 (idempotent)."""
    original: Callable[[Any], None] = Program.parse_tasks
    if getattr(original, "_goldsmith", False):
        return

    @functools.wraps(original)
    def parse_tasks(self: Any) -> None:
        try:
            original(self)
        except ParseError as exc:
            raise Exit(f"error: {exc} (see `invoke --help <task>`)", code=2) from exc

    parse_tasks._goldsmith = True  # type: ignore[attr-defined]
    Program.parse_tasks = parse_tasks  # type: ignore[method-assign]


def main() -> None:
    exit_2_on_parse_errors()
    Program(name="Goldsmith", binary="goldsmith", version=__version__).run()
