"""The adoption tasks (init, import-packer): parse arguments, call goldsmith.commands_adopt.

goldsmith.tasks builds them with `adopt_tasks`, handing over its helpers (errors to Exit, output), so this
module never imports it: the two stay one-way.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from invoke.context import Context
from invoke.tasks import Task, task


def adopt_tasks(_errors: Callable[[], AbstractContextManager[None]], _say: Callable[[str], None]) -> list[Task[Any]]:
    """init and import-packer, using goldsmith.tasks' helpers."""

    @task(help={"directory": "where to create the project: a new or existing directory (`.` for this one)"})
    def init(c: Context, directory: str) -> None:
        """Start a Goldsmith project: tasks.py, invoke.yaml, an example recipe, suite, pipeline and CI workflow.

        Never overwrites a file: those already there are listed as skipped. (DIR is required: invoke's
        positional arguments are; give `.` for the current directory.)
        """
        from goldsmith import commands_adopt

        with _errors():
            _say(commands_adopt.init(directory))

    @task(name="import-packer", help={
        "template": "a Packer template: JSON, or HCL2 (*.pkr.hcl) with a source \"amazon-ebs\" block",
        "output": "write the recipe here, e.g. recipes/web.yaml (never over an existing file); default: print it",
    })
    def import_packer(c: Context, template: str, output: str | None = None) -> None:
        """Convert a Packer amazon-ebs template into a recipe; lists what did not convert, with file:line."""
        from goldsmith import commands_adopt

        with _errors():
            text, notes = commands_adopt.import_packer(template, output)
        if output is None:
            print(text, end="", flush=True)
        else:
            _say(text)
        for line in notes:
            print(f"not converted: {line}", file=sys.stderr, flush=True)

    return [init, import_packer]
