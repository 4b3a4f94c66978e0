"""The validation instance is released early; a failed early release is retried by the step's cleanup."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from goldsmith.bake.steps.validate_image import ValidateImage
from goldsmith.errors import CleanupError


class FlakyInstance:
    """Its first removal fails (an interface still detaching), the second works."""

    instance_id = "i-0123456789abcdef0"

    def __init__(self) -> None:
        self.attempts = 0

    def destroy(self) -> list[str]:
        self.attempts += 1
        return ["security group sg-1 still in use"] if self.attempts == 1 else []


def _ctx(warnings: list[str]) -> Any:
    return SimpleNamespace(
        events=SimpleNamespace(warn=warnings.append),
        options=SimpleNamespace(keep_on_error=False),
    )


def test_a_failed_early_release_warns_and_cleanup_removes_the_instance_later() -> None:
    warnings: list[str] = []
    ctx = _ctx(warnings)
    step = ValidateImage()
    instance = FlakyInstance()
    step._instance = instance  # type: ignore[assignment]

    step._release(ctx)  # must not raise: the image passed, a slow detach is not its fault

    assert instance.attempts == 1
    assert len(warnings) == 1 and "sg-1 still in use" in warnings[0] and "try again" in warnings[0]
    step.cleanup(SimpleNamespace(outcome="succeeded"), ctx)  # type: ignore[arg-type]
    assert instance.attempts == 2
    assert step._instance is None


def test_cleanup_reports_what_it_still_could_not_remove() -> None:
    step = ValidateImage()
    instance = FlakyInstance()
    step._instance = instance  # type: ignore[assignment]
    with pytest.raises(CleanupError, match="delete manually"):
        step.cleanup(SimpleNamespace(outcome="succeeded"), _ctx([]))  # type: ignore[arg-type]
