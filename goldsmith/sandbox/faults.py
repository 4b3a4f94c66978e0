"""Fault injection for the gateway: throttling and 5xx errors at a rate, or on the Nth call of an action.

A rule names an action (``"*"`` means every EC2 action), an error (RequestLimitExceeded, InternalError,
ServiceUnavailable) and either a ``rate`` in [0, 1] or an ``nth`` call (1-based, counted from when the
rules were set). Draws come from one ``random.Random(seed)`` so a run can be replayed.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from goldsmith.errors import InputError

# error -> (HTTP status, EC2 message, JSON-protocol __type)
ERRORS: dict[str, tuple[int, str, str]] = {
    "RequestLimitExceeded": (503, "Request limit exceeded.", "ThrottlingException"),
    "InternalError": (500, "An internal error has occurred.", "InternalServerError"),
    # Not retried by botocore: a request AWS refuses for good (e.g. too many concurrent AMI copies).
    "ResourceLimitExceeded": (400, "You have reached the limit for concurrent AMI copies.", "LimitExceededException"),
    "ServiceUnavailable": (
        503,
        "The service is unavailable. Please try again shortly.",
        "ServiceUnavailableException",
    ),
}


@dataclass(frozen=True)
class FaultRule:
    """One rule; exactly one of rate and nth is used (nth wins when set)."""

    action: str
    error: str
    rate: float = 0.0
    nth: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultRule:
        error = str(data.get("error", "RequestLimitExceeded"))
        if error not in ERRORS:
            raise InputError(f"unknown fault error {error!r} (known: {', '.join(sorted(ERRORS))})")
        rate = float(data.get("rate", 0.0))
        if not 0.0 <= rate <= 1.0:
            raise InputError(f"fault rate must be between 0 and 1, got {rate}")
        nth = data.get("nth")
        return cls(str(data.get("action", "*")), error, rate, int(nth) if nth is not None else None)

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "error": self.error, "rate": self.rate, "nth": self.nth}


@dataclass(frozen=True)
class Fault:
    """The error the gateway answers instead of forwarding the request."""

    error: str
    status: int
    message: str
    json_type: str

    def ec2_body(self) -> bytes:
        """EC2's query-protocol error document, as botocore's EC2 parser reads it."""
        return (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{self.error}</Code>'
            f"<Message>{self.message}</Message></Error></Errors><RequestID>{uuid.uuid4()}</RequestID>"
            "</Response>"
        ).encode()

    def json_body(self) -> bytes:
        """The JSON-protocol error document (SSM, KMS, ...)."""
        return json.dumps({"__type": self.json_type, "message": self.message}).encode()


class FaultInjector:
    """Thread-safe decision: should this call fail, and how."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._calls: dict[str, int] = {}
        self._seed: int | None = None
        self._random = random.Random()

    def configure(self, spec: dict[str, Any]) -> None:
        """Replace the rules: ``{"seed": 1, "rules": [{"action": "CopyImage", "error": ..., "nth": 2}]}``."""
        rules = [FaultRule.from_json(r) for r in spec.get("rules", [])]
        seed = spec.get("seed")
        with self._lock:
            self._rules = rules
            self._calls = {}
            self._seed = int(seed) if seed is not None else None
            self._random = random.Random(self._seed)

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {"seed": self._seed, "rules": [r.to_json() for r in self._rules]}

    def decide(self, action: str, is_ec2: bool) -> Fault | None:
        """Count the call and return the fault to inject, if any rule fires."""
        with self._lock:
            if not self._rules:
                return None
            self._calls[action] = count = self._calls.get(action, 0) + 1
            for rule in self._rules:
                if rule.action != action and not (rule.action == "*" and is_ec2):
                    continue
                fired = count == rule.nth if rule.nth is not None else self._random.random() < rule.rate
                if fired:
                    status, message, json_type = ERRORS[rule.error]
                    return Fault(rule.error, status, message, json_type)
            return None
