"""Build events: one stream feeding the JSON-lines log file and the console, both redacted."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any, Protocol, TextIO

from goldsmith.report.redact import Redactor


class Display(Protocol):
    def step_started(self, name: str) -> None: ...
    def step_finished(self, name: str, status: str, duration: float) -> None: ...
    def line(self, text: str) -> None: ...
    def close(self) -> None: ...


class PlainDisplay:
    """Line-oriented console output, for CI logs and pipes."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._t0 = time.monotonic()

    def _print(self, text: str) -> None:
        elapsed = time.monotonic() - self._t0
        print(f"[{elapsed:7.2f}s] {text}", file=self._stream, flush=True)

    def step_started(self, name: str) -> None:
        self._print(f"==> {name}")

    def step_finished(self, name: str, status: str, duration: float) -> None:
        if status != "ok":
            self._print(f"<== {name}: {status} after {duration:.2f} s")

    def line(self, text: str) -> None:
        self._print(f"    {text}")

    def close(self) -> None:
        return None


class Events:
    """Where every part of a bake reports what it does."""

    def __init__(self, log_path: Path | None, display: Display | None, redactor: Redactor, build_id: str) -> None:
        self.redact = redactor
        self.build_id = build_id
        self.display = display
        self.log_path = log_path
        self._lock = threading.Lock()
        self._fh: TextIO | None = None
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def _write(self, event: str, **fields: Any) -> None:
        record = {"time": time.time(), "build_id": self.build_id, "event": event}
        record.update({k: self.redact(v) if isinstance(v, str) else v for k, v in fields.items()})
        if self._fh is not None:
            with self._lock:
                self._fh.write(json.dumps(record, sort_keys=True) + "\n")
                self._fh.flush()

    def step_started(self, name: str) -> None:
        self._write("step_started", step=name)
        if self.display:
            self.display.step_started(name)

    def step_finished(self, name: str, status: str, duration: float, error: str = "") -> None:
        self._write("step_finished", step=name, status=status, duration=round(duration, 4), error=error)
        if self.display:
            self.display.step_finished(name, status, duration)

    def info(self, message: str, **fields: Any) -> None:
        message = self.redact(message)
        self._write("info", message=message, **fields)
        if self.display:
            self.display.line(message)

    def output(self, source: str, text: str) -> None:
        """One line of a provisioner's (or suite's) live output."""
        text = self.redact(text)
        self._write("output", source=source, line=text)
        if self.display:
            self.display.line(f"[{source}] {text}")

    def data(self, event: str, **fields: Any) -> None:
        """A record for the JSON log only, not the console (a wait, the run's time accounting)."""
        self._write(event, **fields)

    def warn(self, message: str, **fields: Any) -> None:
        message = self.redact(message)
        self._write("warning", message=message, **fields)
        if self.display:
            self.display.line(f"WARNING: {message}")

    def close(self) -> None:
        if self.display:
            self.display.close()
        if self._fh is not None:
            self._fh.close()
            self._fh = None
