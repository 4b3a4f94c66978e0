"""The report task: parse arguments, call goldsmith.commands_report.

goldsmith.tasks builds it with `report_tasks`, handing over its helpers (settings from config, errors to
Exit, output), so this module never imports it: the two stay one-way.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from invoke.context import Context
from invoke.tasks import Task, task

if TYPE_CHECKING:
    from goldsmith.commands import Settings

SettingsOf = Callable[[Context, "str | None", "str | None", "str | None"], "Settings"]


def report_tasks(_settings: SettingsOf, _errors: Callable[[], AbstractContextManager[None]],
                 _say: Callable[[str], None]) -> list[Task[Any]]:
    """report, using goldsmith.tasks' helpers."""

    @task(help={
        "build_id": "a build id (base-20261204-101500-3f9a) or pipeline run id, or `latest` for the newest one "
                    "in the work dir",
        "open": "open it in the browser where there is a display (not in CI); --no-open only prints its path",
    })
    def report(c: Context, build_id: str, open: bool = True) -> None:
        """Re-render a bake's (or pipeline run's) HTML report from its files and open it: `invoke report latest`.

        The report is WORK_DIR/reports/ID.html: the steps drawn to scale, provisioners' output, validation
        test by test, every resource created and whether it was removed, the AMIs per region with their
        permissions and channels, the AWS request count. (BUILD_ID is required: invoke's positional
        arguments are; `latest` names the newest build or run.)
        """
        from goldsmith import commands_report

        with _errors():
            path = commands_report.report(_settings(c, None, None, None).work_dir, build_id)
        _say(f"report: {path}")
        if open and commands_report.open_report(path):
            _say("opened in the browser")

    return [report]
