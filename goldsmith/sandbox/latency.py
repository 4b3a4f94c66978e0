"""A latency model: resources stay "in transition" for a while, like on AWS, so waiters really wait.

moto makes every change at once (instances running, snapshots completed, images available). The gateway
records each change with ``note`` and passes every EC2 response through ``rewrite``, which shows the
intermediate state (pending, stopping, shutting-down; snapshot pending with progress; image pending) until
the profile's duration (times ``scale``) has passed.
"""

from __future__ import annotations

import math
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Literal

from goldsmith.errors import InputError

Kind = Literal["instance", "snapshot", "image"]
MAX_SCALE = 100.0  # NaN or Infinity would keep resources in transition forever
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
    """Seconds each transition takes (before scaling)."""

    name: str
    instance_start: float = 0.0
    instance_stop: float = 0.0
    instance_terminate: float = 0.0
    snapshot: float = 0.0
    image: float = 0.0
    copy: float = 0.0
    console: float = 0.0  # after a start, GetConsoleOutput is empty this long (EC2 posts it late)


PROFILES = {
    "instant": Profile("instant"),
    # Real AWS: ~15-40 s to running, ~30-60 s to stopped, minutes for snapshots/images, scaled down.
    "aws": Profile(
        "aws",
        instance_start=2.0,
        instance_stop=2.0,
        instance_terminate=1.0,
        snapshot=1.5,
        image=2.0,
        copy=2.0,
        # EC2 posts console output a while after boot, often a minute or more: after running (start 2 s).
        console=3.0,
    ),
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
        return {"profile": self.profile.name, "scale": self.scale}

    def note(self, resource_id: str, state: str, seconds: float) -> None:
        """Show ``state`` for this resource for ``seconds`` (already from the profile) times scale."""
        duration = seconds * self.scale
        if duration <= 0:
            return
        now = time.monotonic()
        with self._lock:
            self._transitions[resource_id] = _Transition(state, now, now + duration)

    def note_boot(self, instance_id: str) -> None:
        """The instance (re)booted: its console output appears the profile's `console` seconds later."""
        with self._lock:
            self._console_at[instance_id] = time.monotonic() + self.profile.console * self.scale

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
