"""The adoption tasks (init, import-packer): parse arguments, call goldsmith.commands_adopt.

goldsmith.tasks builds them with `adopt_tasks`, handing over its helpers (errors to Exit, output), so this
module never imports it: the two stay one-way.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from invoke.context import Context
from invoke.tasks import Task, task


def adopt_tasks(_errors: Callable[[], AbstractContextManager[None]], _say: Callable[[str], None]) -> list[Task[Any]]:
    """init (and import-packer), using goldsmith.tasks' helpers."""

    @task(help={"directory": "where to create the project: a new or existing directory (`.` for this one)"})
    def init(c: Context, directory: str) -> None:
        """Start a Goldsmith project: tasks.py, invoke.yaml, an example recipe, suite, pipeline and CI workflow.

        Never overwrites a file: those already there are listed as skipped. (DIR is required: invoke's
        positional arguments are; give `.` for the current directory.)
        """
        from goldsmith import commands_adopt

        with _errors():
            _say(commands_adopt.init(directory))

    return [init]
