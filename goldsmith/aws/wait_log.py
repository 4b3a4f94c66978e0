"""What a run waited for, and where its wall time went: every wait (kind, resource, how long, how many checks,
the last pause), and the accounting the report and the JSON log show: waiting for AWS, of which polling
overshoot (estimated: half the last pause, the end being equally likely anywhere in it), and our own work.

Only the waits on the run's own thread are on its path; region copies wait in worker threads while the run
does other things, and their join (finish-copies) is recorded on the run's thread as a "copies" wait.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class WaitRecord:
    """One wait: for what, on which thread, how long, how many checks, and the last interval (its end
    was noticed at most that late)."""

    kind: str
    resource: str
    started: float  # time.time() when the wait began
    seconds: float
    checks: int
    last_pause: float  # the sleep before the check that saw it done (0: done at the first check)
    thread: int
    done_at: float = 0.0  # time.time() of the check that saw it done

    @property
    def overshoot_estimate(self) -> float:
        """Expected lateness: half the last interval (the end is equally likely anywhere in it)."""
        return self.last_pause / 2


    def as_log(self) -> dict[str, Any]:
        """The record for the JSON log (times rounded)."""
        fields = {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items() if k != "thread"}
        return {**fields, "overshoot": round(self.overshoot_estimate, 4)}


@dataclass
class WaitLog:
    """Every wait of a run (thread-safe: region copies wait in worker threads). `listener` hears of each
    (the JSON log); `thread` is the run's own (its waits are on its path)."""

    records: list[WaitRecord] = field(default_factory=list)
    listener: Callable[[WaitRecord], None] | None = None
    thread: int = field(default_factory=threading.get_ident)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, record: WaitRecord) -> None:
        with self._lock:
            self.records.append(record)
        if self.listener is not None:
            self.listener(record)

    def last_of(self, kind: str, resources: set[str]) -> WaitRecord | None:
        """The wait of this kind on one of these resources that ended last."""
        found = [r for r in self.all() if r.kind == kind and r.resource in resources]
        return max(found, key=lambda r: r.done_at, default=None)

    def accounting(self, wall: float) -> dict[str, Any]:
        """Where `wall` seconds went: AWS waits on the run's path (by kind), their estimated polling overshoot,
        our own work (the rest), and the waits off the path (region copies, beside other work)."""
        on_path = [r for r in self.all() if r.thread == self.thread]
        beside = [r for r in self.all() if r.thread != self.thread]
        waited = sum(r.seconds for r in on_path)
        kinds: dict[str, dict[str, float]] = {}
        for r in on_path:
            k = kinds.setdefault(r.kind, {"waits": 0, "seconds": 0.0, "overshoot": 0.0, "checks": 0})
            k["waits"] += 1
            k["seconds"] += r.seconds
            k["overshoot"] += r.overshoot_estimate
            k["checks"] += r.checks
        return {
            "wall": round(wall, 3),
            "aws_waits": round(waited, 3),
            "overshoot": round(sum(r.overshoot_estimate for r in on_path), 3),
            "own_work": round(max(0.0, wall - waited), 3),
            "background_waits": round(sum(r.seconds for r in beside), 3),
            "by_kind": {k: {n: round(v, 3) for n, v in d.items()} for k, d in sorted(kinds.items())},
        }

    def all(self) -> list[WaitRecord]:
        with self._lock:
            return list(self.records)


def record_wait(log: WaitLog | None, kind: str, resource: str, started_mono: float, checks: int,
                last_pause: float) -> None:
    if log is None:
        return
    now = time.monotonic()
    log.add(WaitRecord(kind=kind, resource=resource, started=time.time() - (now - started_mono),
                       seconds=now - started_mono, checks=checks, last_pause=last_pause,
                       thread=threading.get_ident(), done_at=time.time()))
