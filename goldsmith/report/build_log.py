"""Reading a run's JSON-lines log (goldsmith.report.events writes it) back for the HTML report: the steps
with their times, each provisioner's output, the suites' output, and the warnings.

A log of a run killed part-way is read as far as it goes; a line that is not JSON (a torn last write) is
skipped. Every text goes through the Redactor again, although the log was redacted when written.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from goldsmith.report.redact import Redactor

_PROVISIONER_START = re.compile(r"^provision\[(\d+)\] (.*)$")
_PROVISIONER_LINE = re.compile(r"^\[(\d+) ([\w-]+)\] ?(.*)$", re.DOTALL)


@dataclass(frozen=True)
class LoggedStep:
    name: str
    started_at: float
    duration: float = 0.0
    status: str = "running"  # ok | failed | interrupted | running (the log ends inside it)
    error: str = ""


@dataclass
class OutputBlock:
    """The output of one provisioner, or of one run of the suites."""

    title: str
    lines: list[str] = field(default_factory=list)
    failed: bool = False


@dataclass
class BuildLog:
    steps: list[LoggedStep] = field(default_factory=list)
    provisioners: list[OutputBlock] = field(default_factory=list)
    suites: list[OutputBlock] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # info lines, in order
    first: float = 0.0  # time of the first record
    last: float = 0.0  # time of the last record


def read_log(path: Path, redact: Redactor | None = None) -> BuildLog:
    """The log at `path`, or an empty BuildLog when there is none."""
    redact = redact or Redactor()
    log = BuildLog()
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return log
    reader = _Reader(log, redact)
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            reader.add(record)
    reader.finish()
    return log


@dataclass
class _Reader:
    log: BuildLog
    redact: Redactor
    open_steps: dict[str, tuple[float, int]] = field(default_factory=dict)  # name -> (started, index)
    blocks: dict[int, OutputBlock] = field(default_factory=dict)
    suites: dict[str, OutputBlock] = field(default_factory=dict)

    def text(self, record: dict[str, Any], key: str) -> str:
        return self.redact(str(record.get(key, "")))

    def add(self, record: dict[str, Any]) -> None:
        when = float(record.get("time", 0) or 0)
        self.log.first = self.log.first or when
        self.log.last = max(self.log.last, when)
        event = record.get("event")
        if event == "step_started":
            self._started(self.text(record, "step"), when)
        elif event == "step_finished":
            self._finished(record, when)
        elif event == "info":
            self._info(self.text(record, "message"))
        elif event == "warning":
            self.log.warnings.append(self.text(record, "message"))
        elif event == "output":
            self._output(self.text(record, "source"), self.text(record, "line"))

    def _started(self, name: str, when: float) -> None:
        self.open_steps[name] = (when, len(self.log.steps))
        self.log.steps.append(LoggedStep(name=name, started_at=when))

    def _finished(self, record: dict[str, Any], when: float) -> None:
        name = self.text(record, "step")
        duration = float(record.get("duration", 0) or 0)
        started, index = self.open_steps.pop(name, (when - duration, -1))
        step = LoggedStep(name=name, started_at=started, duration=duration, status=self.text(record, "status"),
                          error=self.text(record, "error"))
        if index >= 0:
            self.log.steps[index] = step
        else:
            self.log.steps.append(step)
        if name == "provision" and step.status != "ok" and self.blocks:
            self.blocks[max(self.blocks)].failed = True

    def _info(self, message: str) -> None:
        self.log.messages.append(message)
        found = _PROVISIONER_START.match(message)
        if found:
            index = int(found.group(1))
            self.blocks[index] = OutputBlock(title=f"provision[{index}] {found.group(2)}")

    def _output(self, source: str, line: str) -> None:
        if source != "provision":
            block = self.suites.setdefault(source, OutputBlock(title=source))
            block.lines.append(line)
            return
        found = _PROVISIONER_LINE.match(line)
        index = int(found.group(1)) if found else max(self.blocks, default=0)
        if index not in self.blocks:
            self.blocks[index] = OutputBlock(title=f"provision[{index}] {found.group(2) if found else ''}".strip())
        self.blocks[index].lines.append(found.group(3) if found else line)

    def finish(self) -> None:
        self.log.provisioners = [self.blocks[i] for i in sorted(self.blocks)]
        self.log.suites = list(self.suites.values())
        end = self.log.last
        for i, step in enumerate(self.log.steps):  # the log ended inside these steps (a killed run)
            if step.status == "running":
                self.log.steps[i] = LoggedStep(name=step.name, started_at=step.started_at,
                                               duration=max(0.0, end - step.started_at), status="running")
