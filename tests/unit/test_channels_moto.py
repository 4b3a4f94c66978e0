"""Channels against a real moto server with the sandbox's fixes: all regions or none, read-back of writes that
SSM refuses asynchronously (an AMI not available there), history with put-back writes, resolving a channel."""

from __future__ import annotations

import itertools

import pytest

from goldsmith.aws import parameters
from goldsmith.aws.session import Aws
from goldsmith.errors import AwsError, InputError
from goldsmith.images.channels import PUT_BACK, Where, previous_value, read_channels, resolve, set_all
from tests.unit.test_clean_moto import image

WHERE = Where(prefix="/goldsmith", timeout=0.5, delay=0.05)
REGIONS = ("us-east-1", "us-west-2")
_n = itertools.count()


def recipe() -> str:
    return f"ch{next(_n)}"


def value(aws: Aws, region: str, name: str) -> str | None:
    found = parameters.current(aws.ssm(region), name)
    return found.value if found else None


def test_a_write_ssm_refuses_in_the_second_region_puts_the_first_back(aws: Aws) -> None:
    """us-west-2 is asked for an AMI of us-east-1: SSM answers 200 and keeps its old value, which only the
    read-back sees; us-east-1, already changed, is put back."""
    name = recipe()
    old = {r: image(aws, r, "b1")[0] for r in REGIONS}
    set_all(aws, recipe=name, channel="stable", targets=old, where=WHERE, note="v1", report=print)
    new_east = image(aws, "us-east-1", "b2")[0]
    with pytest.raises(AwsError, match=r"not changed anywhere: SSM did not take .*; put back us-east-1"):
        set_all(aws, recipe=name, channel="stable", targets={"us-east-1": new_east, "us-west-2": new_east},
                where=WHERE, note="v2", report=print)
    param = f"/goldsmith/{name}/stable"
    assert {r: value(aws, r, param) for r in REGIONS} == old
    history = parameters.history(aws.ssm("us-east-1"), param)
    assert [v.value for v in history] == [old["us-east-1"], new_east, old["us-east-1"]]
    assert previous_value(history) == ""  # the failed write and its put-back are no step: v1 is the only value


def test_a_new_channel_that_fails_part_way_is_deleted_where_it_was_made(aws: Aws) -> None:
    name = recipe()
    east = image(aws, "us-east-1", "b3")[0]
    with pytest.raises(AwsError):
        set_all(aws, recipe=name, channel="fresh", targets={"us-east-1": east, "us-west-2": east}, where=WHERE,
                note="v1", report=print)
    assert {r: value(aws, r, f"/goldsmith/{name}/fresh") for r in REGIONS} == {r: None for r in REGIONS}


def test_the_previous_value_skips_repeats_and_undone_writes() -> None:
    v = [parameters.Version(i + 1, value) for i, value in enumerate(["a", "b", "b", "c", "c"])]
    assert previous_value(v) == "b"
    assert previous_value(v[:1]) == ""
    assert previous_value([parameters.Version(1, "a"), parameters.Version(2, "a")]) == ""
    undone = [parameters.Version(1, "a"), parameters.Version(2, "b"), parameters.Version(3, "c"),
              parameters.Version(4, "b", description=PUT_BACK)]
    assert previous_value(undone) == "a"


def test_resolving_a_channel_without_a_value_in_the_region_says_how_to_give_it_one(aws: Aws) -> None:
    name = recipe()
    east = image(aws, "us-east-1", "b4")[0]
    set_all(aws, recipe=name, channel="stable", targets={"us-east-1": east}, where=WHERE, note="v1", report=print)
    assert resolve(aws, "us-east-1", name, "stable", WHERE) == east
    with pytest.raises(InputError, match=rf"no value in us-west-2: promote an image first \(invoke promote {name}"):
        resolve(aws, "us-west-2", name, "stable", WHERE)


def test_a_pipeline_reads_all_its_channels_in_a_region_with_one_request_per_ten(aws: Aws) -> None:
    """read_channels: GetParameters, ten names a request; a channel missing in a region is None; set_all
    given those values reads nothing more and still writes, skips and puts back as before."""
    names = [recipe() for _ in range(12)]
    east = image(aws, "us-east-1", "rc")[0]
    for name in names[:11]:
        set_all(aws, recipe=name, channel="stable", targets={"us-east-1": east}, where=WHERE, note="v1",
                report=print)
    before = aws.requests()
    found = read_channels(aws, WHERE, "stable", {name: ["us-east-1"] for name in names} | {names[0]: REGIONS})
    sent = {k: v - before.get(k, 0) for k, v in aws.requests().items() if v != before.get(k, 0)}
    assert sent == {"ssm:GetParameters": 3}  # 12 names in us-east-1 (two requests), one in us-west-2
    assert [found[n]["us-east-1"].value for n in names[:11]] == [east] * 11  # type: ignore[union-attr]
    assert found[names[11]] == {"us-east-1": None} and found[names[0]]["us-west-2"] is None
    before = aws.requests()
    changes = set_all(aws, recipe=names[0], channel="stable", targets={"us-east-1": east}, where=WHERE,
                      note="again", report=print, before=found[names[0]])
    assert changes == [] and aws.requests() == before  # already there: not read again, not written
    newer = image(aws, "us-east-1", "rc2")[0]
    set_all(aws, recipe=names[11], channel="stable", targets={"us-east-1": newer}, where=WHERE, note="new",
            report=print, before=found[names[11]])
    assert value(aws, "us-east-1", f"/goldsmith/{names[11]}/stable") == newer
