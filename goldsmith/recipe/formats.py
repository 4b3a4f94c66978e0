"""Format rules for values in a recipe (ids, ARNs, regions, devices, paths).

Each check raises FieldProblem, a ValueError that can point below the field it was raised for, so a
cross-field rule ("devices unique") can name the exact list item in the error.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable

from goldsmith.recipe.hints import did_you_mean
from goldsmith.recipe.regions import REGIONS


class FieldProblem(ValueError):
    """A rule was broken at `path` below the field being validated."""

    def __init__(self, message: str, *path: str | int, key: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.key = key  # point at the mapping key itself (e.g. a bad variable name), not its value


ACCOUNT_RE = re.compile(r"\d{12}")
AMI_ID_RE = re.compile(r"ami-[0-9a-f]{8,17}")
ORG_RE = re.compile(r"arn:aws:organizations::\d{12}:organization/o-[a-z0-9]{10,32}")
OU_RE = re.compile(r"arn:aws:organizations::\d{12}:ou/o-[a-z0-9]{10,32}/ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}")
DEVICE_RE = re.compile(r"/dev/(sd|xvd)([f-p])")
RECIPE_NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
CHANNEL_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # one segment of an SSM parameter path
VARIABLE_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
INSTANCE_TYPE_RE = re.compile(r"[a-z][a-z0-9-]*\.[a-z0-9-]+")
MODE_RE = re.compile(r"0?[0-7]{3}|[0-7]{4}")
OWNER_RE = re.compile(r"[a-z_][a-z0-9_.-]*\$?(:[a-z_][a-z0-9_.-]*\$?)?")
SUBNET_RE = re.compile(r"subnet-[0-9a-f]{8,17}")
VPC_RE = re.compile(r"vpc-[0-9a-f]{8,17}")
AMI_NAME_RE = re.compile(r"[A-Za-z0-9()\[\]./\-'@_ ]{3,128}")
KMS_RE = re.compile(
    r"(mrk-)?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}|mrk-[0-9a-f]{32}"
    r"|alias/[A-Za-z0-9/_-]+|arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key/[A-Za-z0-9-]+|alias/[A-Za-z0-9/_-]+)"
)
OWNER_ALIASES = ("self", "amazon", "aws-marketplace", "aws-backup-vault")
MAX_SIZE_GIB = 16384


def check(pattern: re.Pattern[str], value: str, what: str, example: str) -> str:
    """Return value if it fully matches pattern, else raise a sentence naming what was expected."""
    if not pattern.fullmatch(value):
        raise FieldProblem(f"{value!r} is not a valid {what} (expected something like {example!r})")
    return value


def account_ids(values: list[str]) -> list[str]:
    """Every entry must be a 12-digit AWS account id."""
    for i, value in enumerate(values):
        if not ACCOUNT_RE.fullmatch(value):
            raise FieldProblem(f"{value!r} is not an AWS account id (expected 12 digits)", i)
    return values


def owners(values: list[str]) -> list[str]:
    """AMI owners: account ids or one of the owner aliases AWS knows."""
    for i, value in enumerate(values):
        if not (ACCOUNT_RE.fullmatch(value) or value in OWNER_ALIASES):
            expected = "a 12-digit account id or one of " + ", ".join(OWNER_ALIASES)
            hint = did_you_mean(value, OWNER_ALIASES)
            raise FieldProblem(f"{value!r} is not an AMI owner: expected {expected}{hint}", i)
    return values


def arns(values: list[str], pattern: re.Pattern[str], example: str, what: str) -> list[str]:
    """Every entry must match an Organizations ARN format."""
    for i, value in enumerate(values):
        if not pattern.fullmatch(value):
            raise FieldProblem(f"{value!r} is not a valid {what} ARN (expected like {example!r})", i)
    return values


def region(value: str) -> str:
    """A real AWS region name."""
    if value not in REGIONS:
        raise FieldProblem(f"unknown region {value!r}{did_you_mean(value, REGIONS)}")
    return value


def regions(values: Iterable[str]) -> None:
    """Every entry is a real region, none twice."""
    seen: set[str] = set()
    for i, value in enumerate(values):
        if value not in REGIONS:
            raise FieldProblem(f"unknown region {value!r}{did_you_mean(value, REGIONS)}", i)
        if value in seen:
            raise FieldProblem(f"region {value!r} is listed twice", i)
        seen.add(value)


def device_slot(device: str) -> str:
    """The letter slot of a device: /dev/sdf and /dev/xvdf are the same disk on EC2."""
    match = DEVICE_RE.fullmatch(device)
    return match.group(2) if match else device


def absolute_path(value: str, what: str) -> str:
    """An absolute path other than / itself (templated values are checked after rendering)."""
    if "{{" in value:
        return value
    if not value.startswith("/"):
        raise FieldProblem(f"{what} must be an absolute path, got {value!r}")
    if value.rstrip("/") == "":
        raise FieldProblem(f"{what} cannot be / itself")
    return value


def positive(value: int | None, unit: str = "") -> int | None:
    """Durations, sizes and rates are > 0 when given."""
    if value is not None and value <= 0:
        raise FieldProblem(f"must be greater than 0{unit}, got {value}")
    return value


def size(value: int) -> int:
    """A volume size in GiB: 1..16384 (EBS's largest volume)."""
    if value <= 0:
        raise FieldProblem(f"size must be greater than 0 GiB, got {value}")
    if value > MAX_SIZE_GIB:
        raise FieldProblem(f"size {value} GiB is larger than EBS allows ({MAX_SIZE_GIB} GiB)")
    return value


_HOST_KEY_PIN_RE = re.compile(
    r"\s*(SHA256:[A-Za-z0-9+/]{43}=?|[a-z0-9][a-z0-9@.-]*\s+[A-Za-z0-9+/]{16,}={0,2}(\s+\S.*)?)\s*"
)


def is_host_key_pin(value: str) -> bool:
    """A SHA256:... fingerprint, or a 'type base64' key line whose blob decodes and names that type
    (checked now: a broken pin would only fail when connecting, after the instance is launched)."""
    if not _HOST_KEY_PIN_RE.fullmatch(value):
        return False
    fields = value.split()
    if fields[0].startswith("SHA256:"):
        return True
    try:
        blob = base64.b64decode(fields[1], validate=True)
    except (binascii.Error, ValueError):
        return False
    size = int.from_bytes(blob[:4], "big")
    return blob[4 : 4 + size] == fields[0].encode()
