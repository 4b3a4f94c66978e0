"""Atomic file writes (a reader, or a killed writer, never leaves half a file behind) and the user's cache
directory."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any


def write_json_atomic(path: Path, data: Any, *, mode: int | None = None) -> None:
    """Write JSON to a temporary file beside `path`, fsync it, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        if mode is not None:
            os.fchmod(fh.fileno(), mode)
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_text_atomic(path: Path, text: str) -> None:
    """Write text the same way: a temporary file beside `path`, then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def user_cache_dir(name: str) -> Path:
    """$XDG_CACHE_HOME/goldsmith/NAME (~/.cache by default): derived files that are safe to delete. Raises
    OSError when there is no home directory: a cache is never put in a shared place like /tmp, where another
    user could plant what it loads."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # the XDG spec: a relative path is invalid and is ignored
        home = os.path.expanduser("~")
        if not os.path.isabs(home):
            raise OSError("no home directory for a cache")
        base = os.path.join(home, ".cache")
    return Path(base) / "goldsmith" / name
