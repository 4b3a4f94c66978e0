"""The manifest file: every build of a run, readable by people, by us, and by Packer-manifest consumers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from goldsmith.engine.files import write_json_atomic


def write_manifest(path: Path, entry: dict[str, Any]) -> None:
    """Append this build to the manifest file (Packer's layout: {"builds": [...], "last_run_uuid"})."""
    data: dict[str, Any] = {"builds": []}
    if path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            data = {"builds": []}
    data.setdefault("builds", []).append(entry)
    data["last_run_uuid"] = entry["build_id"]
    write_json_atomic(path, data)
