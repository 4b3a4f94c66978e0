"""A latency model: resources stay "in transition" for a while, like on AWS, so waiters really wait.

moto makes every change at once (instances running, snapshots completed, images available). The gateway
records each change with ``note`` and passes every EC2 response through ``rewrite``, which shows the
intermediate state (pending, stopping, shutting-down; snapshot pending with progress; image pending) until
the modelled duration (times ``scale``) has passed. Every transition is kept in ``history`` (with wall-clock
times) so a benchmark can compare what a client waited with what it had to wait.

What a transition costs, in real AWS seconds (``AWS_SECONDS``; the "aws" profile is the same divided by 15,
``time_scale`` 1/15, so a bake takes seconds instead of minutes while every ratio is kept):

- **Instances**: pending -> running ~30 s, stopping -> stopped ~30 s, shutting-down -> terminated ~15 s;
  the console output appears ~45 s after boot. AWS publishes no figure for these; they are the usual
  ranges seen by AMI builders (Packer's amazon-ebs waits for them with 15 s polls) for small EBS-backed
  Linux instances, and they are fixed costs: they do not grow with the data.
- **Snapshots** are incremental: "the first snapshot is a full copy of the data; later snapshots hold the
  blocks changed since the last one", and "the more changes since the last snapshot, the longer the next
  one takes" (AWS Knowledge Center, ebs-incremental-snapshot-creation-slow; EBS User Guide, "How EBS
  snapshots work"). AWS gives no throughput ("there is no way to predict snapshot creation time"), so the
  model is a fixed 30 s plus 20 s per GiB to store (~50 MiB/s). What is stored: the data written to the
  volume since its previous snapshot; for the first snapshot of a volume made from another account's
  snapshot (the public base AMI), or of an empty volume, all of its data. A snapshot of a volume made from
  one of our own snapshots is incremental to that one (EBS User Guide: a snapshot of a volume restored
  from snapshot A is incremental to A).
- **Images**: RegisterImage from completed snapshots makes an AMI available in ~15 s. CreateImage takes the
  volumes' snapshots itself, so it costs what those snapshots cost (they run in parallel: the longest one)
  plus the same 15 s: never less than CreateSnapshots + RegisterImage of the same volumes.
- **Copies**: CopyImage to another region copies every snapshot's data: a fixed 60 s plus 100 s per GiB
  (~10 MiB/s; standard copies are "best effort", and AWS's own ceiling is 500 MiB/s per snapshot for the
  paid time-based copies: EBS User Guide, "Time-based copies", quotas), so a copy of a large image takes
  minutes and the copy of a bigger image longer.

The sizes are the sandbox's real ones: the bytes a snapshot captured (its own overlayfs layer) and, for a
volume from the base image, the base image's size.
"""

from __future__ import annotations

import math
import threading
import time
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from goldsmith.errors import InputError

Kind = Literal["instance", "snapshot", "image"]
MAX_SCALE = 100.0  # NaN or Infinity would keep resources in transition forever
GIB = 2**30
EC2_NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
INSTANCE_CODES = {
    "pending": 0,
    "running": 16,
    "shutting-down": 32,
    "terminated": 48,
    "stopping": 64,
    "stopped": 80,
}


@dataclass(frozen=True)
class Profile:
    """Seconds each transition takes (before scaling), and how many of them make one AWS second."""

    name: str
    time_scale: float = 0.0  # profile seconds per real AWS second (0: nothing takes time)
    instance_start: float = 0.0
    instance_stop: float = 0.0
    instance_terminate: float = 0.0
    snapshot: float = 0.0  # fixed part of a snapshot
    snapshot_per_gib: float = 0.0  # per GiB stored (changed since the volume's previous snapshot)
    image: float = 0.0  # RegisterImage (and CreateImage once its snapshots are done)
    copy: float = 0.0  # fixed part of a CopyImage
    copy_per_gib: float = 0.0  # per GiB of the image's data
    console: float = 0.0  # after a start, GetConsoleOutput is empty this long (EC2 posts it late)

    def compressed(self, name: str, factor: float) -> Profile:
        """The same costs, `factor` times as long (every ratio kept)."""
        fields = {k: v * factor for k, v in asdict(self).items() if isinstance(v, float)}
        return replace(self, name=name, **fields)

    def snapshot_seconds(self, stored_bytes: int) -> float:
        """A snapshot that stores `stored_bytes` (changed since the previous one; all data for a first one)."""
        return self.snapshot + self.snapshot_per_gib * max(0, stored_bytes) / GIB

    def create_image_seconds(self, snapshot_seconds: list[float]) -> float:
        """CreateImage: its snapshots (in parallel), then the registration."""
        return max(snapshot_seconds, default=0.0) + self.image

    def copy_seconds(self, image_bytes: int) -> float:
        """CopyImage of an image holding `image_bytes` of data, to another region."""
        return self.copy + self.copy_per_gib * max(0, image_bytes) / GIB


AWS_SECONDS = Profile("aws-seconds", time_scale=1.0, instance_start=30.0, instance_stop=30.0,
                      instance_terminate=15.0, snapshot=30.0, snapshot_per_gib=20.0, image=15.0, copy=60.0,
                      copy_per_gib=100.0, console=45.0)
AWS_TIME_SCALE = 1 / 15  # the "aws" profile: real AWS durations divided by 15

PROFILES = {
    "instant": Profile("instant"),
    "aws": AWS_SECONDS.compressed("aws", AWS_TIME_SCALE),
}


@dataclass
class _Transition:
    state: str
    start: float
    end: float


class LatencyModel:
    """Thread-safe record of resources in transition, and the response rewriter."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.profile = PROFILES["instant"]
        self.scale = 1.0
        self._transitions: dict[str, _Transition] = {}
        self._console_at: dict[str, float] = {}
        self.history: deque[dict[str, Any]] = deque(maxlen=10_000)  # every transition noted, with wall times

    def configure(self, profile: str, scale: float = 1.0) -> None:
        if profile not in PROFILES:
            raise InputError(f"unknown latency profile {profile!r} (known: {', '.join(sorted(PROFILES))})")
        if not (math.isfinite(scale) and 0 <= scale <= MAX_SCALE):
            raise InputError(f"latency scale must be a number from 0 to {MAX_SCALE:g}, got {scale}")
        with self._lock:
            self.profile, self.scale = PROFILES[profile], float(scale)
            self._transitions.clear()
            self._console_at.clear()

    def describe(self) -> dict[str, object]:
        """The profile, its scale, and how many seconds of it stand for one AWS second (time_scale x scale):
        what the sandbox target scales the AWS polling policy by."""
        return {"profile": self.profile.name, "scale": self.scale,
                "time_scale": self.profile.time_scale * self.scale}

    def note(self, resource_id: str, state: str, seconds: float, action: str = "", **detail: Any) -> None:
        """Show ``state`` for this resource for ``seconds`` (already from the profile) times scale."""
        duration = seconds * self.scale
        if duration <= 0:
            return
        now, wall = time.monotonic(), time.time()
        with self._lock:
            self._transitions[resource_id] = _Transition(state, now, now + duration)
            self.history.append({"resource": resource_id, "state": state, "action": action, "start": wall,
                                 "end": wall + duration, "seconds": duration, **detail})

    def transitions(self, since: float = 0.0) -> list[dict[str, Any]]:
        """The transitions noted since `since` (wall time), oldest first."""
        with self._lock:
            return [dict(t) for t in self.history if t["start"] >= since]

    def note_boot(self, instance_id: str) -> None:
        """The instance (re)booted: its console output appears the profile's `console` seconds later."""
        seconds = self.profile.console * self.scale
        with self._lock:
            self._console_at[instance_id] = time.monotonic() + seconds
            if seconds > 0:
                wall = time.time()
                self.history.append({"resource": instance_id, "state": "console", "action": "console",
                                     "start": wall, "end": wall + seconds, "seconds": seconds})

    def console_ready(self, instance_id: str) -> bool:
        with self._lock:
            return time.monotonic() >= self._console_at.get(instance_id, 0.0)

    def _active(self) -> dict[str, _Transition]:
        now = time.monotonic()
        with self._lock:
            for rid in [r for r, t in self._transitions.items() if t.end <= now]:
                del self._transitions[rid]
            return dict(self._transitions)

    def rewrite(self, body: bytes) -> bytes:
        """Replace final states by transition states for the resources still in transition."""
        active = self._active()
        if not active or not any(rid.encode() in body for rid in active):
            return body
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            return body
        changed = False
        for element in root.iter():
            changed |= _rewrite_element(element, active)
        if not changed:
            return body
        ET.register_namespace("", _namespace(root.tag) or EC2_NS)
        return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def _namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def _child(element: ET.Element, name: str) -> ET.Element | None:
    for child in element:
        if child.tag.rsplit("}", 1)[-1] == name:
            return child
    return None


def _rewrite_element(element: ET.Element, active: dict[str, _Transition]) -> bool:
    """One element of a response: an instance, a snapshot or an image whose id is in transition."""
    for id_tag, state_tag in (
        ("instanceId", "instanceState"),
        ("instanceId", "currentState"),
        ("snapshotId", "status"),
        ("imageId", "imageState"),
    ):
        ident, state = _child(element, id_tag), _child(element, state_tag)
        if ident is None or state is None or (ident.text or "") not in active:
            continue
        transition = active[ident.text or ""]
        if state_tag in ("instanceState", "currentState"):
            code, name = _child(state, "code"), _child(state, "name")
            if code is not None and name is not None:
                code.text, name.text = str(INSTANCE_CODES[transition.state]), transition.state
        else:
            state.text = transition.state
            progress = _child(element, "progress")
            if progress is not None:
                done = (time.monotonic() - transition.start) / (transition.end - transition.start)
                progress.text = f"{min(99, int(done * 100))}%"
        return True
    return False
