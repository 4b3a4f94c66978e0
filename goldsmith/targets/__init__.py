"""Targets: real AWS, or the sandbox on this machine. `make_target` picks one by name."""

from __future__ import annotations

from pathlib import Path

from goldsmith.errors import InputError
from goldsmith.recipe.hints import did_you_mean
from goldsmith.recipe.regions import REGIONS
from goldsmith.targets.base import Target

__all__ = ["TARGETS", "Target", "make_target"]

TARGETS = ("sandbox", "aws")


def make_target(name: str, *, region: str | None = None, profile: str | None = None,
                sandbox_dir: Path | None = None) -> Target:
    if region is not None and region not in REGIONS:  # a typo must not reach AWS (nor exit 1 from there)
        raise InputError(f"--region: unknown region {region!r}{did_you_mean(region, REGIONS)}")
    if name == "sandbox":
        from goldsmith.targets.sandbox import SandboxTarget

        return SandboxTarget(state_dir=sandbox_dir, region=region, profile=profile)
    if name == "aws":
        from goldsmith.targets.aws import AwsTarget

        return AwsTarget(region=region, profile=profile)
    raise InputError(f"--target: unknown target '{name}' (known: {', '.join(TARGETS)})")
