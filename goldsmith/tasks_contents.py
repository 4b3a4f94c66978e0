"""The contents task (`invoke diff`): parse arguments, call goldsmith.commands_contents.

goldsmith.tasks builds it with `contents_tasks`, handing over its helpers (settings from config, errors to
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
SIDE = "a build id, an AMI id (ami-..., any region of the build) or RECIPE@VERSION (its newest successful build)"


def contents_tasks(_settings: SettingsOf, _errors: Callable[[], AbstractContextManager[None]],
                   _say: Callable[[str], None]) -> list[Task[Any]]:
    """diff, using goldsmith.tasks' helpers."""

    @task(
        help={
            "old": f"the image to compare from: {SIDE}",
            "new": f"the image to compare to: {SIDE}",
            "json": "print JSON for scripts instead of text",
            "manifest": "also look builds up in this manifest file (repeatable; the work dir's manifests are always "
                        "read)",
        },
        iterable=["manifest"],
    )
    def diff(c: Context, old: str, new: str, json: bool = False, manifest: list[str] | None = None) -> None:
        """What changed inside an image: packages added, removed, upgraded, downgraded; OS and kernel (no AWS call)."""
        from goldsmith import commands_contents

        with _errors():
            _say(commands_contents.diff(_settings(c, None, None, None), old, new, as_json=json,
                                        manifests=manifest or []))

    return [diff]
