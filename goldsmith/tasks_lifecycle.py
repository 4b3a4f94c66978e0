"""The lifecycle tasks (promote, rollback, images, prune): parse arguments, call goldsmith.commands_lifecycle.

goldsmith.tasks builds them with `lifecycle_tasks`, handing over its helpers (settings from config, errors to
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

TARGET = "sandbox (this machine, no account) or aws (default: config goldsmith.target)"
REGION = "region (repeatable; default: the current one and the recipe's image.regions)"
PROFILE = "AWS profile (default: config goldsmith.profile, else AWS_PROFILE)"

SettingsOf = Callable[[Context, "str | None", "str | None", "str | None"], "Settings"]


def lifecycle_tasks(_settings: SettingsOf, _errors: Callable[[], AbstractContextManager[None]],
                    _say: Callable[[str], None]) -> list[Task[Any]]:
    """promote, rollback, images and prune, using goldsmith.tasks' helpers."""

    @task(
        help={
            "recipe": "recipe name or file (its AMIs carry goldsmith:recipe=<name>)",
            "ami_or_version": "the build to promote: an AMI id of any of its regions, or a version (its newest build)",
            "channel": "channel name, e.g. stable (the SSM parameter <channel_prefix>/<recipe>/<channel>)",
            "region": REGION + "; each must have a copy of the build",
            "target": TARGET,
            "profile": PROFILE,
        },
        iterable=["region"],
    )
    def promote(c: Context, recipe: str, ami_or_version: str, channel: str, region: list[str] | None = None,
                target: str | None = None, profile: str | None = None) -> None:
        """Point a channel at a validated build in every region that has a copy of it (all regions or none)."""
        from goldsmith import commands_lifecycle

        with _errors():
            _say(commands_lifecycle.promote(_settings(c, target, None, profile), recipe, ami_or_version,
                                            channel=channel, regions=region or [], report=_say))


    @task(
        help={
            "recipe": "recipe name or file",
            "channel": "channel name, e.g. stable",
            "to": "go back to this build (AMI id or version) instead of the channel's previous value",
            "region": REGION,
            "target": TARGET,
            "profile": PROFILE,
        },
        iterable=["region"],
    )
    def rollback(c: Context, recipe: str, channel: str, to: str | None = None, region: list[str] | None = None,
                 target: str | None = None, profile: str | None = None) -> None:
        """Point a channel back at its previous value (or --to a build) in every region; refused if that AMI is gone."""
        from goldsmith import commands_lifecycle

        with _errors():
            _say(commands_lifecycle.rollback(_settings(c, target, None, profile), recipe, channel=channel, to=to,
                                             regions=region or [], report=_say))

    return [promote, rollback]
