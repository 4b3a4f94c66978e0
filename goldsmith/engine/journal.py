"""The journal: a small JSON file per run listing what exists, written atomically.

It is written before each create call (the intent) and after it (the id), so that `invoke clean` can
remove what a killed run left even when the process died between the two.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from goldsmith.engine.files import write_json_atomic

EntryStatus = Literal["creating", "created", "deleted"]
RunStatus = Literal["running", "succeeded", "failed", "interrupted", "cleaned"]  # cleaned: by `invoke clean`


@dataclass
class Entry:
    kind: str  # instance | key-pair | security-group | snapshot | image | volume
    region: str
    name: str = ""
    id: str = ""
    status: EntryStatus = "creating"
    at: float = field(default_factory=time.time)


@dataclass
class Journal:
    path: Path
    build_id: str
    recipe: str = ""
    target: str = ""
    status: str = "running"  # a RunStatus; "" when read from an old journal without one
    pid: int = field(default_factory=os.getpid)
    entries: list[Entry] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def save(self) -> None:
        """Write the journal as it is (at the start of a run, so even a run killed early has one)."""
        with self._lock:
            self._write()

    def intent(self, kind: str, region: str, name: str = "") -> Entry:
        """Record that a create call is about to be made (before we know its id)."""
        entry = Entry(kind=kind, region=region, name=name)
        with self._lock:
            self.entries.append(entry)
            self._write()
        return entry

    def created(self, entry: Entry, resource_id: str) -> None:
        with self._lock:
            entry.id = resource_id
            entry.status = "created"
            self._write()

    def created_many(self, entry: Entry, resources: dict[str, str]) -> None:
        """One create call made several resources (CreateSnapshots): name -> id replaces the intent."""
        with self._lock:
            self.entries.remove(entry)
            for name, resource_id in resources.items():
                self.entries.append(Entry(kind=entry.kind, region=entry.region, name=name, id=resource_id,
                                          status="created"))
            self._write()

    def deleted(self, kind: str, resource_id: str) -> None:
        with self._lock:
            for entry in self.entries:
                if entry.kind == kind and (entry.id == resource_id or entry.name == resource_id):
                    entry.status = "deleted"
            self._write()

    def finish(self, status: RunStatus | str) -> None:
        with self._lock:
            self.status = status
            self._write()

    def still_running(self) -> bool:
        """True while the run that writes this journal is alive (its pid exists and it has not finished)."""
        if self.status != "running" or self.pid <= 0 or self.pid == os.getpid():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def live(self) -> list[Entry]:
        return [e for e in self.entries if e.status != "deleted"]

    def _write(self) -> None:
        data = {
            "build_id": self.build_id,
            "recipe": self.recipe,
            "target": self.target,
            "status": self.status,
            "pid": self.pid,
            "entries": [asdict(e) for e in self.entries],
        }
        write_json_atomic(self.path, data)


def load_journal(path: Path) -> Journal:
    data = json.loads(path.read_text(encoding="utf-8"))
    journal = Journal(
        path=path,
        build_id=data["build_id"],
        recipe=data.get("recipe", ""),
        target=data.get("target", ""),
        status=data.get("status", ""),
        pid=int(data.get("pid", 0)),
    )
    fields = set(Entry.__dataclass_fields__)
    journal.entries = [Entry(**{k: v for k, v in e.items() if k in fields}) for e in data.get("entries", [])]
    return journal
