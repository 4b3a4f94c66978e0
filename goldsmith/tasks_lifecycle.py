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
                    _say: Callable[[str], None], _whole_number: Callable[[str, object], int | None]) -> list[Task[Any]]:
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

    @task(
        help={
            "recipe": "only this recipe's builds (name or file); default every recipe's",
            "region": "region to list (repeatable; default every region enabled for the account)",
            "json": "print JSON for scripts instead of a table",
            "enable": "turn a disabled AMI back on (EnableImage) in --region (default the current one)",
            "target": TARGET,
            "profile": PROFILE,
        },
        iterable=["region"],
        positional=[],  # invoke's positional arguments are required: an optional RECIPE is a flag, --recipe
    )
    def images(c: Context, recipe: str | None = None, region: list[str] | None = None, json: bool = False,
               enable: str | None = None, target: str | None = None, profile: str | None = None) -> None:
        """List every AMI Goldsmith made: versions, regions, validation, channels, sharing, use (or --enable one)."""
        from goldsmith import commands_lifecycle

        with _errors():
            _say(commands_lifecycle.images(_settings(c, target, None, profile), recipe, regions=region or [],
                                           as_json=json, enable=enable))

    @task(
        help={
            "recipe": "only this recipe's builds (name or file); default every recipe's",
            "keep": "how many of each recipe's newest builds to keep (at least 1)",
            "older_than": "retire only builds older than DAYS",
            "disable": "retire by disabling the AMIs (the default; reversible with `images --enable`)",
            "deregister": "retire by deregistering the AMIs and deleting their snapshots",
            "yes": "really retire (without it, only print the plan)",
            "channel_history": "a channel's last N values protect their builds (default 1: its current value)",
            "launched_within": "keep builds launched within DAYS (lastLaunchedTime; default 0: rule off)",
            "region": "region (repeatable; default every region enabled for the account)",
            "target": TARGET,
            "profile": PROFILE,
        },
        iterable=["region"],
        positional=[],  # invoke's positional arguments are required: an optional RECIPE is a flag, --recipe
    )
    def prune(c: Context, recipe: str | None = None, keep: str | None = None, older_than: str | None = None,
              disable: bool = False, deregister: bool = False, yes: bool = False, channel_history: str | None = None,
              launched_within: str | None = None, region: list[str] | None = None, target: str | None = None,
              profile: str | None = None) -> None:
        """Retire old builds (disable, or deregister with snapshots), never one in use; prints the plan first."""
        from goldsmith import commands_lifecycle

        with _errors():
            history = _whole_number("--channel-history", channel_history)
            within = _whole_number("--launched-within", launched_within)
            request = commands_lifecycle.PruneRequest(
                recipe=recipe, keep=_whole_number("--keep", keep), older_than=_whole_number("--older-than", older_than),
                disable=disable, deregister=deregister, yes=yes, regions=tuple(region or ()),
                channel_history=1 if history is None else history, launched_within=0 if within is None else within)
            count = commands_lifecycle.prune(_settings(c, target, None, profile), request, report=_say)
        _say(f"{'retired' if yes else 'would retire'} {count} builds")

    return [promote, rollback, images, prune]
