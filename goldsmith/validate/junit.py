"""Read pytest's JUnit XML report: counts, and each failure with its assertion message.

The XML is the record of a validation (its path goes in the manifest); the summary is taken from it
rather than from pytest's console output, which is meant for people and changes between versions.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from goldsmith.errors import ValidationFailed

MESSAGE_LIMIT = 500


@dataclass(frozen=True)
class Failure:
    """One test that failed or errored: its id and why (the assertion, or the error's first line)."""

    test: str
    message: str
    kind: str = "failure"  # failure | error

    def as_dict(self) -> dict[str, str]:
        return {"test": self.test, "message": self.message, "kind": self.kind}


@dataclass(frozen=True)
class Summary:
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    failures: tuple[Failure, ...] = field(default_factory=tuple)

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.errors + self.skipped


def parse_junit(path: Path) -> Summary:
    """Count the report's test cases by outcome and collect the failures, in file order."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ValidationFailed(f"the suites' JUnit report {path} could not be read: {exc}") from exc
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    failures: list[Failure] = []
    for case in root.iter("testcase"):
        outcome, failure = _outcome(case)
        counts[outcome] += 1
        if failure is not None:
            failures.append(failure)
    return Summary(failures=tuple(failures), **counts)


@dataclass(frozen=True)
class Case:
    """One test of the report: its id, outcome (passed | failed | errors | skipped), time and message."""

    test: str
    outcome: str
    seconds: float = 0.0
    message: str = ""


def parse_cases(path: Path) -> list[Case]:
    """Every test case of the report, in file order (what the HTML report lists test by test)."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ValidationFailed(f"the suites' JUnit report {path} could not be read: {exc}") from exc
    cases = []
    for case in root.iter("testcase"):
        outcome, failure = _outcome(case)
        skipped = case.find("skipped")
        message = failure.message if failure else _message(skipped) if skipped is not None else ""
        try:
            seconds = float(case.get("time") or 0)
        except ValueError:
            seconds = 0.0
        cases.append(Case(_test_id(case), outcome, seconds, message))
    return cases


def _outcome(case: ET.Element) -> tuple[str, Failure | None]:
    test = _test_id(case)
    for tag, outcome in (("failure", "failed"), ("error", "errors")):
        element = case.find(tag)
        if element is not None:
            kind = "failure" if tag == "failure" else "error"
            return outcome, Failure(test, _message(element), kind)
    if case.find("skipped") is not None:
        return "skipped", None
    return "passed", None


def _test_id(case: ET.Element) -> str:
    """``tests/images/test_x.py::test_name[param]`` from pytest's classname and name attributes."""
    classname = case.get("classname", "")
    name = case.get("name", "?")
    if not classname:
        return name
    parts = classname.split(".")
    # pytest writes "tests.images.test_x" (module path with dots) or "...test_x.TestClass".
    module_end = max((i for i, p in enumerate(parts) if p.startswith("test")), default=len(parts) - 1)
    module = "/".join(parts[: module_end + 1]) + ".py"
    rest = "::".join(parts[module_end + 1 :])
    return f"{module}::{rest + '::' if rest else ''}{name}"


def _message(element: ET.Element) -> str:
    """The assertion message pytest recorded; for errors without one, the last line of the trace."""
    message = (element.get("message") or "").strip()
    if not message:
        lines = [line for line in (element.text or "").splitlines() if line.strip()]
        message = lines[-1].strip() if lines else element.tag
    message = " ".join(message.split())
    return message if len(message) <= MESSAGE_LIMIT else message[: MESSAGE_LIMIT - 1] + "…"
