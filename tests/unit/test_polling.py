"""The AWS target's polling policy (issue 15): under ~10 % of each wait lost to polling, few requests for ten
bakes at once, waits that follow the schedule, stay cancellable and are recorded."""

from __future__ import annotations

import threading
import time

import boto3
import pytest
from botocore.stub import Stubber

from goldsmith.aws.calls import wait
from goldsmith.aws.polling import AWS_POLLS, FLOOR, Poll, WaitKind
from goldsmith.aws.wait_log import WaitLog
from goldsmith.engine.cancel import Cancelled, CancelToken
from goldsmith.sandbox.latency import AWS_SECONDS, GIB

# What each kind of wait usually takes on AWS (real seconds, from the latency model's sources).
USUAL: dict[WaitKind, tuple[float, ...]] = {
    "instance_running": (AWS_SECONDS.instance_start, 40.0),
    "instance_stopped": (AWS_SECONDS.instance_stop, 60.0),
    "instance_gone": (AWS_SECONDS.instance_terminate, 60.0),
    "snapshot": (AWS_SECONDS.snapshot_seconds(GIB // 10), AWS_SECONDS.snapshot_seconds(8 * GIB)),
    "image": (AWS_SECONDS.image, 30.0),
    "copy": (AWS_SECONDS.copy_seconds(GIB), AWS_SECONDS.copy_seconds(8 * GIB)),
    "console": (AWS_SECONDS.console, 90.0),
}


@pytest.mark.parametrize("kind", sorted(USUAL))
def test_a_usual_wait_loses_at_most_a_tenth_to_polling(kind: WaitKind) -> None:
    poll = AWS_POLLS.of(kind)
    shortest, longest = USUAL[kind]
    steps = 200
    for i in range(steps + 1):
        duration = shortest + (longest - shortest) * i / steps
        assert poll.overshoot(duration) <= 0.1 * duration + 1e-9, (kind, duration, poll.overshoot(duration))


def test_long_waits_back_off_and_short_ones_poll_tight() -> None:
    copy = AWS_POLLS.copy
    assert copy.pause(600.0, 10) > copy.pause(60.0, 3) > AWS_POLLS.image.pause(10.0, 3)
    assert len(list(copy.checks(AWS_SECONDS.copy_seconds(8 * GIB)))) < 70  # a 14-minute copy: not 170 checks
    assert AWS_POLLS.image.pause(5.0, 3) <= 1.5  # registration: ~15 s, asked about every 1.5 s


def test_ten_bakes_at_once_stay_well_inside_ec2s_request_limits() -> None:
    """EC2 refills the bucket of non-mutating (Describe*) calls at 20 per second per region. A bake waits on
    at most two things at once in one region (the build instance going away while its snapshots complete,
    or the validation instance starting while the image is copied away: that copy is polled in its own
    region); ten bakes all doing their two busiest waits at once stay at two thirds of it, and the bucket's
    100 tokens absorb the first checks."""
    busiest = sorted((AWS_POLLS.rate_bound(k) for k in USUAL), reverse=True)[:2]
    assert 10 * sum(busiest) <= 20 * 2 / 3 + 1e-9


def test_the_sandbox_scales_the_policy_and_never_polls_below_the_floor() -> None:
    scaled = AWS_POLLS.scaled(1 / 15)
    assert scaled.image.least == pytest.approx(AWS_POLLS.image.least / 15)
    assert scaled.copy.overshoot(60.0 / 15) == pytest.approx(AWS_POLLS.copy.overshoot(60.0) / 15)
    instant = AWS_POLLS.scaled(0.0)
    assert instant.snapshot.pause(0.0, 1) == FLOOR and instant.snapshot.pause(3.0, 5) == FLOOR


def _described(state: str) -> dict[str, object]:
    return {"Images": [{"ImageId": "ami-0123456789abcdef0", "State": state}]}


def test_a_wait_follows_its_schedule_and_is_recorded() -> None:
    ec2 = boto3.client("ec2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(ec2)
    for state in ("pending", "pending", "pending", "available"):
        stub.add_response("describe_images", _described(state))
    log = WaitLog()
    poll = Poll(first=0.2, least=0.05, ratio=0.0, most=0.05)
    t0 = time.monotonic()
    with stub:
        wait(ec2, "image_available", resource="ami-0123456789abcdef0", wanted="available", timeout=5, delay=9,
             poll=poll, kind="image", log=log, ImageIds=["ami-0123456789abcdef0"])
    took = time.monotonic() - t0
    assert 0.3 <= took < 5.0  # 0.2 + 0.05 + 0.05 (more on a loaded machine), never the `delay` of 9 s
    [record] = log.all()
    assert (record.kind, record.checks, record.last_pause) == ("image", 4, pytest.approx(0.05))
    assert 0.3 <= record.seconds <= took


def test_a_long_pause_ends_at_once_when_the_run_is_cancelled() -> None:
    ec2 = boto3.client("ec2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(ec2)
    stub.add_response("describe_images", _described("pending"))
    token = CancelToken()
    threading.Timer(0.2, token.cancel, args=("test",)).start()
    t0 = time.monotonic()
    with stub, pytest.raises(Cancelled):
        wait(ec2, "image_available", resource="ami-0123456789abcdef0", wanted="available", timeout=600, delay=1,
             cancel=token, poll=AWS_POLLS.copy, kind="copy", ImageIds=["ami-0123456789abcdef0"])
    assert time.monotonic() - t0 < 5  # not the copy's first 30 s pause
