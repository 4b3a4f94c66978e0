"""Process checks shared by the tests."""

from __future__ import annotations

from pathlib import Path


def running(pid: int | str) -> bool:
    """True while `pid` runs (a zombie whose parent has not reaped it yet counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False
