"""Fault injection for the gateway: errors at a rate or on the Nth call, and EC2's eventual consistency.

Every rule names an action (``"*"`` means every EC2 action) and a ``kind``:

- ``"error"`` (the default): an error (RequestLimitExceeded, InternalError, ServiceUnavailable,
  ResourceLimitExceeded) and either a ``rate`` in [0, 1] or an ``nth`` call (1-based, counted from when
  the rules were set). Draws come from one ``random.Random(seed)`` so a run can be replayed. An optional
  ``region`` limits the rule to calls to that region (the second region's write of a multi-region change).
- ``"not_found_after_create"``: EC2 is eventually consistent ("Eventual consistency in the Amazon EC2
  API"): for a while after a create, calls that *reference* the new resource may answer that it does not
  exist. A call of that action that references (by id, or a key pair by name) an instance, security
  group, key pair, snapshot or image created less than ``seconds`` ago is answered with that resource's
  NotFound error (InvalidInstanceID.NotFound, InvalidGroup.NotFound, InvalidKeyPair.NotFound,
  InvalidSnapshot.NotFound, InvalidAMIID.NotFound) without reaching moto. ``resources`` (optional)
  limits the rule to some kinds: ``["security-group", "key-pair"]``. Example:
  ``{"kind": "not_found_after_create", "action": "RunInstances", "seconds": 1.0}``. Creations are
  recorded (from the create calls' answers) only while such a rule is set.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, Literal
from xml.sax.saxutils import escape

from goldsmith.errors import InputError

# error -> (HTTP status, EC2 message, JSON-protocol __type)
ERRORS: dict[str, tuple[int, str, str]] = {
    "RequestLimitExceeded": (503, "Request limit exceeded.", "ThrottlingException"),
    "InternalError": (500, "An internal error has occurred.", "InternalServerError"),
    # Not retried by botocore: a request AWS refuses for good (e.g. too many concurrent AMI copies).
    "ResourceLimitExceeded": (400, "You have reached the limit for concurrent AMI copies.", "LimitExceededException"),
    # Not retried either: the caller may not do this (an SCP or IAM policy denying it, e.g. in one region).
    "AccessDenied": (400, "User is not authorized to perform this operation.", "AccessDeniedException"),
    "ServiceUnavailable": (
        503,
        "The service is unavailable. Please try again shortly.",
        "ServiceUnavailableException",
    ),
}


ResourceKind = Literal["instance", "security-group", "key-pair", "snapshot", "image"]
RESOURCE_KINDS: tuple[ResourceKind, ...] = ("instance", "security-group", "key-pair", "snapshot", "image")
# kind -> (EC2's error code, its message for one id), as EC2 answers a reference to an unknown resource
NOT_FOUND: dict[ResourceKind, tuple[str, str]] = {
    "instance": ("InvalidInstanceID.NotFound", "The instance ID '{}' does not exist"),
    "security-group": ("InvalidGroup.NotFound", "The security group '{}' does not exist"),
    "key-pair": ("InvalidKeyPair.NotFound", "The key pair '{}' does not exist"),
    "snapshot": ("InvalidSnapshot.NotFound", "The snapshot '{}' does not exist."),
    "image": ("InvalidAMIID.NotFound", "The image id '[{}]' does not exist"),
}
# create action -> (kind, the answer's elements that name what was created)
CREATES: dict[str, tuple[ResourceKind, tuple[str, ...]]] = {
    "RunInstances": ("instance", ("instanceId",)),
    "CreateSecurityGroup": ("security-group", ("groupId",)),
    "CreateKeyPair": ("key-pair", ("keyName", "keyPairId")),
    "ImportKeyPair": ("key-pair", ("keyName", "keyPairId")),
    "CreateSnapshot": ("snapshot", ("snapshotId",)),
    "CreateSnapshots": ("snapshot", ("snapshotId",)),
    "CopySnapshot": ("snapshot", ("snapshotId",)),
    "RegisterImage": ("image", ("imageId",)),
    "CreateImage": ("image", ("imageId",)),
    "CopyImage": ("image", ("imageId",)),
}
# Query parameters that reference an existing resource: InstanceId.1, SecurityGroupId.1,
# NetworkInterface.1.SecurityGroupId.1, BlockDeviceMapping.1.Ebs.SnapshotId, ResourceId.1 (CreateTags), ...
REFERENCE = re.compile(r"(?:^|\.)(InstanceId|GroupId|SecurityGroupId|KeyName|KeyPairId|SnapshotId|"
                       r"SourceSnapshotId|ImageId|SourceImageId|ResourceId)(?:\.\d+)?$")
# Errors a call can be answered with after it was carried out (throttling and refusals happen before).
LOSABLE_ANSWER_ERRORS = ("InternalError", "ServiceUnavailable")
SOURCE_PARAMS = ("SourceSnapshotId", "SourceImageId")  # they name a resource of SourceRegion
NAMING_KEYS = ("CreateKeyPair", "ImportKeyPair")  # their KeyName names the new key, it references none


@dataclass(frozen=True)
class FaultRule:
    """An error rule; exactly one of rate and nth is used (nth wins when set); `region` limits it to one region;
    `lose_answer`: the call is carried out and only its answer replaced by the error."""

    action: str
    error: str
    rate: float = 0.0
    nth: int | None = None
    region: str | None = None
    lose_answer: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultRule:
        unknown = set(data) - {"kind", "action", "error", "rate", "nth", "region", "lose_answer"}
        if unknown:
            raise InputError(f"unknown field(s) of an error fault rule: {', '.join(sorted(unknown))}")
        error = str(data.get("error", "RequestLimitExceeded"))
        if error not in ERRORS:
            raise InputError(f"unknown fault error {error!r} (known: {', '.join(sorted(ERRORS))})")
        rate = float(data.get("rate", 0.0))
        if not 0.0 <= rate <= 1.0:
            raise InputError(f"fault rate must be between 0 and 1, got {rate}")
        nth = data.get("nth")
        region = data.get("region")
        lose_answer = data.get("lose_answer", False)
        if not isinstance(lose_answer, bool):
            raise InputError(f"fault lose_answer must be true or false, got {lose_answer!r}")
        if lose_answer and error not in LOSABLE_ANSWER_ERRORS:
            raise InputError(f"a lost answer is replaced by {' or '.join(LOSABLE_ANSWER_ERRORS)}, not {error} "
                             "(AWS answers that one before carrying the call out)")
        return cls(str(data.get("action", "*")), error, rate, int(nth) if nth is not None else None,
                   str(region) if region is not None else None, lose_answer)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "error", "action": self.action, "error": self.error, "rate": self.rate, "nth": self.nth,
                "region": self.region, "lose_answer": self.lose_answer}


@dataclass(frozen=True)
class NotFoundRule:
    """Eventual consistency: references to resources younger than `seconds` are NotFound."""

    action: str
    seconds: float
    resources: tuple[ResourceKind, ...] = RESOURCE_KINDS

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NotFoundRule:
        unknown = set(data) - {"kind", "action", "seconds", "resources"}
        if unknown:
            raise InputError(f"unknown field(s) of a not_found_after_create rule: {', '.join(sorted(unknown))}")
        if "seconds" not in data:
            raise InputError("a not_found_after_create rule needs `seconds`")
        seconds = float(data["seconds"])
        if not 0.0 < seconds <= 3600.0:
            raise InputError(f"not_found_after_create seconds must be in (0, 3600], got {seconds}")
        resources: list[ResourceKind] = []
        for name in data.get("resources", RESOURCE_KINDS):
            kind = next((k for k in RESOURCE_KINDS if k == name), None)
            if kind is None:
                raise InputError(f"unknown resource kind {name!r} (known: {', '.join(RESOURCE_KINDS)})")
            resources.append(kind)
        return cls(str(data.get("action", "*")), seconds, tuple(resources))

    def to_json(self) -> dict[str, Any]:
        return {"kind": "not_found_after_create", "action": self.action, "seconds": self.seconds,
                "resources": list(self.resources)}


RULE_KINDS: dict[str, type[FaultRule] | type[NotFoundRule]] = {
    "error": FaultRule,
    "not_found_after_create": NotFoundRule,
}


def parse_rule(data: dict[str, Any]) -> FaultRule | NotFoundRule:
    kind = str(data.get("kind", "error"))
    if kind not in RULE_KINDS:
        raise InputError(f"unknown fault kind {kind!r} (known: {', '.join(RULE_KINDS)})")
    return RULE_KINDS[kind].from_json(data)


def _applies(rule_action: str, action: str, is_ec2: bool) -> bool:
    return rule_action == action or (rule_action == "*" and is_ec2)


@dataclass(frozen=True)
class Fault:
    """The error the gateway answers instead of forwarding the request (`lose_answer`: after carrying it out,
    instead of its answer)."""

    error: str
    status: int
    message: str
    json_type: str
    lose_answer: bool = False

    def ec2_body(self) -> bytes:
        """EC2's query-protocol error document, as botocore's EC2 parser reads it."""
        return (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{self.error}</Code>'
            f"<Message>{escape(self.message)}</Message></Error></Errors><RequestID>{uuid.uuid4()}</RequestID>"
            "</Response>"
        ).encode()

    def json_body(self) -> bytes:
        """The JSON-protocol error document (SSM, KMS, ...)."""
        return json.dumps({"__type": self.json_type, "message": self.message}).encode()


class FaultInjector:
    """Thread-safe decision: should this call fail, and how."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule | NotFoundRule] = []
        self._calls: dict[str, int] = {}
        self._seed: int | None = None
        self._random = random.Random()
        self._created: dict[tuple[str, str], tuple[ResourceKind, float]] = {}  # (region, id or name) -> kind, when

    def configure(self, spec: dict[str, Any]) -> None:
        """Replace the rules: ``{"seed": 1, "rules": [{"action": "CopyImage", "error": ..., "nth": 2}]}``."""
        rules = [parse_rule(dict(r)) for r in spec.get("rules", [])]
        seed = spec.get("seed")
        with self._lock:
            self._rules = rules
            self._calls = {}
            self._seed = int(seed) if seed is not None else None
            self._random = random.Random(self._seed)
            self._created = {}

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {"seed": self._seed, "rules": [r.to_json() for r in self._rules]}

    def decide(self, action: str, is_ec2: bool, region: str = "", params: dict[str, str] | None = None) -> Fault | None:
        """Count the call and return the fault to inject, if any rule fires."""
        with self._lock:
            if not self._rules:
                return None
            self._calls[action] = count = self._calls.get(action, 0) + 1
            for rule in self._rules:
                if not _applies(rule.action, action, is_ec2):
                    continue
                if isinstance(rule, NotFoundRule):
                    fault = self._not_yet_visible(rule, action, region, params or {}) if is_ec2 else None
                    if fault is not None:
                        return fault
                    continue
                if rule.region is not None and rule.region != region:
                    continue
                fired = count == rule.nth if rule.nth is not None else self._random.random() < rule.rate
                if fired:
                    status, message, json_type = ERRORS[rule.error]
                    return Fault(rule.error, status, message, json_type, rule.lose_answer)
            return None

    def _not_yet_visible(self, rule: NotFoundRule, action: str, region: str, params: dict[str, str]) -> Fault | None:
        """The NotFound of the first resource the call references that is younger than the rule's seconds."""
        now = time.monotonic()
        for name, value in params.items():
            found = REFERENCE.search(name)
            if found is None or (found.group(1) == "KeyName" and action in NAMING_KEYS):
                continue
            where = params.get("SourceRegion", region) if found.group(1) in SOURCE_PARAMS else region
            created = self._created.get((where, value))
            if created is None:
                continue
            kind, when = created
            if kind in rule.resources and now - when < rule.seconds:
                code, message = NOT_FOUND[kind]
                return Fault(code, 400, message.format(value), code)
        return None

    def created(self, action: str, region: str, body: bytes) -> None:
        """Note the resources a successful create call made (only while a not_found_after_create rule is set)."""
        if action not in CREATES:
            return
        with self._lock:
            horizon = max((r.seconds for r in self._rules if isinstance(r, NotFoundRule)), default=0.0)
        if not horizon:
            return
        kind, tags = CREATES[action]
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            return
        names = [e.text for e in root.iter() if e.tag.rsplit("}", 1)[-1] in tags and e.text]
        now = time.monotonic()
        with self._lock:
            for old in [k for k, (_, when) in self._created.items() if now - when >= horizon]:
                del self._created[old]
            for name in names:
                self._created[(region, name)] = (kind, now)
