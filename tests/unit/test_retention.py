"""Which builds prune keeps, and why: each rule on its own, the order they are tried in (no servers)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from goldsmith.images.builds import Build
from goldsmith.images.retention import Decision, InUse, Rules, decide, plan_lines

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def build(n: int, day: int, recipe: str = "web", **tags: str) -> Build:
    """Build n of the recipe, created on 2026-11-<day>, with an AMI in us-east-1 (ami-<n>...)."""
    image: Any = {"ImageId": f"ami-{n:017x}", "CreationDate": f"2026-11-{day:02d}T10:00:00.000Z", "State": "available",
                  "Tags": [{"Key": k.replace("_", ":"), "Value": v} for k, v in tags.items()]}
    return Build(f"{recipe}-{n}", recipe, f"{n}.0.0", {"us-east-1": image})


def nothing_used() -> InUse:
    return InUse({}, {}, {}, {})


def reasons(decisions: list[Decision]) -> dict[str, tuple[bool, str]]:
    return {d.build.version: (d.retire, d.reason) for d in decisions}


def test_the_newest_are_kept_per_recipe_and_the_rest_retired() -> None:
    builds = [build(1, 1), build(2, 2), build(3, 3), build(4, 4, recipe="db")]
    found = reasons(decide(builds, nothing_used(), Rules(keep=2), NOW))
    assert found["3.0.0"] == (False, "among the 2 newest of web (#1)")
    assert found["2.0.0"] == (False, "among the 2 newest of web (#2)")
    assert found["4.0.0"] == (False, "among the 2 newest of db (#1)")
    assert found["1.0.0"] == (True, "not among the 2 newest and nothing uses it")


@pytest.mark.parametrize(("used", "reason"), [
    (InUse({"ami-00000000000000001": "web/stable"}, {}, {}, {}), "channel web/stable (us-east-1) names it"),
    (InUse({}, {"ami-00000000000000001": "i-0abc"}, {}, {}), "instance i-0abc (us-east-1) was launched from it"),
    (InUse({}, {}, {"ami-00000000000000001": "lt-web (version 3)"}, {}),
     "launch template lt-web (version 3) (us-east-1) names it"),
])
def test_an_image_in_use_is_kept_with_the_rule_that_kept_it(used: InUse, reason: str) -> None:
    found = reasons(decide([build(1, 1), build(2, 2)], used, Rules(keep=1), NOW))
    assert found["1.0.0"] == (False, reason)


def test_the_keep_tag_wins_over_everything() -> None:
    found = reasons(decide([build(1, 1, goldsmith_keep="true"), build(2, 2)], nothing_used(), Rules(keep=1), NOW))
    assert found["1.0.0"] == (False, "tagged goldsmith:keep=true")


def test_a_recent_launch_keeps_an_image_only_when_the_rule_is_on() -> None:
    used = InUse({}, {}, {}, {"ami-00000000000000001": "2026-12-01T08:00:00Z"})
    builds = [build(1, 1), build(2, 2)]
    assert reasons(decide(builds, used, Rules(keep=1), NOW))["1.0.0"][0] is True
    kept = reasons(decide(builds, used, Rules(keep=1, launched_within_days=7), NOW))["1.0.0"]
    assert kept[0] is False and kept[1].startswith("launched at 2026-12-01T08:00:00Z (us-east-1)")
    assert reasons(decide(builds, used, Rules(keep=1, launched_within_days=1), NOW))["1.0.0"][0] is True


def test_older_than_spares_younger_builds() -> None:
    builds = [build(1, 1), build(2, 29), build(3, 30)]
    found = reasons(decide(builds, nothing_used(), Rules(keep=1, older_than_days=7), NOW))
    assert found["2.0.0"] == (False, "younger than 7 days (created 2026-11-29T10:00:00.000Z)")
    assert found["1.0.0"][0] is True


def test_the_plan_names_each_build_its_images_and_what_happens() -> None:
    lines = plan_lines(decide([build(1, 1), build(2, 2)], nothing_used(), Rules(keep=1), NOW), "deregister")
    assert lines == [
        "keep   web 2.0.0 web-2 [us-east-1:ami-00000000000000002]: among the 1 newest of web (#1)",
        "RETIRE web 1.0.0 web-1 [us-east-1:ami-00000000000000001]: deregister (and delete snapshots): not among "
        "the 1 newest and nothing uses it",
    ]
