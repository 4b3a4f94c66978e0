"""How often to ask AWS whether a state change is done: a schedule per kind of wait.

A fixed interval loses half of it on average at the end of every wait (5 s fixed: ~2.5 s per wait, 25 % of
an image registration) and asks too often during long ones (a 15-minute copy: 180 DescribeImages). A
`Poll` asks once right away (the instant case costs nothing), then waits `first` (AWS is never done sooner),
then polls at an interval that grows with the time already waited: `ratio` x elapsed, never below `least`
nor above `most`. A wait that ends at T is noticed at most max(least, ratio x T) late, so with `ratio` 0.1
and `least` under a tenth of the usual duration the loss stays under 10 % (about 5 % on average; copies,
which are long and end a bake, use 0.05), and a long wait asks far less often than a fixed interval would
(a 14-minute copy: ~60 checks instead of 170 at 5 s).

`AWS_POLLS` is the AWS target's policy, in real seconds, from what each transition usually takes (see
goldsmith.sandbox.latency for the figures and their sources). Its request rate: one wait asks at most once
per `least` seconds (1.5 s for the short image registration and termination, 2 s or more for every other
Describe*), and a bake waits on at most two things at once in one region (a copy is polled in its own
region). Ten bakes all in their two busiest waits at once make at most ~13 Describe* per second in a region,
two thirds of the 20 per second that refill EC2's bucket of 100 non-mutating requests (EC2 API
reference, "Request throttling": token bucket sizes and refill rates). `rate_bound` computes it; a unit test holds it.

The sandbox target uses the same policy scaled by the latency profile's time scale (its seconds per AWS
second) times the profile's `scale`, so an "aws" profile bake sees the overshoot a real bake would.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Literal

WaitKind = Literal["instance_running", "instance_stopped", "instance_gone", "snapshot", "image", "copy",
                   "console", "other"]
FLOOR = 0.05  # never poll faster than this (the sandbox at scale 0)


@dataclass(frozen=True)
class Poll:
    """Check at once, then after `first` s, then every max(least, ratio x elapsed) s, at most `most` s."""

    first: float = 5.0
    least: float = 5.0
    ratio: float = 0.0
    most: float = 5.0

    @classmethod
    def fixed(cls, delay: float) -> Poll:
        delay = max(delay, FLOOR)
        return cls(first=delay, least=delay, ratio=0.0, most=delay)

    def pause(self, elapsed: float, attempt: int) -> float:
        """Seconds to sleep after the `attempt`-th check (1-based), `elapsed` s into the wait."""
        if attempt == 1:
            return max(self.first, FLOOR)
        return max(FLOOR, min(self.most, max(self.least, self.ratio * elapsed)))

    def checks(self, duration: float) -> Iterator[float]:
        """The times (s from the start) of the checks of a wait that ends after `duration` s; the last one
        sees it done."""
        t, attempt = 0.0, 1
        while True:
            yield t
            if t >= duration:
                return
            t += self.pause(t, attempt)
            attempt += 1

    def overshoot(self, duration: float) -> float:
        """How late a wait of `duration` s is noticed."""
        return max(self.checks(duration)) - duration

    def scaled(self, factor: float) -> Poll:
        return replace(self, first=self.first * factor, least=self.least * factor, most=self.most * factor)


@dataclass(frozen=True)
class PollPolicy:
    """One schedule per kind of wait."""

    instance_running: Poll
    instance_stopped: Poll
    instance_gone: Poll
    snapshot: Poll
    image: Poll
    copy: Poll
    console: Poll
    other: Poll

    def of(self, kind: WaitKind) -> Poll:
        poll: Poll = getattr(self, kind)
        return poll

    def scaled(self, factor: float) -> PollPolicy:
        return PollPolicy(**{name: getattr(self, name).scaled(factor) for name in self.__dataclass_fields__})

    def rate_bound(self, kind: WaitKind) -> float:
        """The most requests per second one wait of this kind makes (after its first two checks)."""
        poll = self.of(kind)
        return 1.0 / max(FLOOR, min(poll.least, poll.most))


# Real seconds. The `first` of each is below the shortest time that transition usually takes on AWS.
AWS_POLLS = PollPolicy(
    instance_running=Poll(first=5.0, least=2.0, ratio=0.1, most=10.0),  # usually 15-40 s
    instance_stopped=Poll(first=5.0, least=2.0, ratio=0.1, most=10.0),  # usually 30-60 s
    instance_gone=Poll(first=5.0, least=1.5, ratio=0.1, most=15.0),  # usually 15-60 s
    snapshot=Poll(first=5.0, least=3.0, ratio=0.1, most=20.0),  # 30 s to many minutes, by the data changed
    image=Poll(first=2.0, least=1.5, ratio=0.1, most=15.0),  # RegisterImage from snapshots: ~15 s
    copy=Poll(first=30.0, least=5.0, ratio=0.05, most=30.0),  # CopyImage across regions: minutes, on the path
    console=Poll(first=5.0, least=2.0, ratio=0.1, most=10.0),  # console output, ~45 s after boot
    other=Poll(first=2.0, least=2.0, ratio=0.0, most=2.0),  # retries after eventual-consistency NotFound
)
