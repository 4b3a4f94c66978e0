"""Small helpers that turn values and near-misses into plain words for error messages."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return " (did you mean 'x'?)" for the closest choice, or "" when nothing is close."""
    matches = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""


def show(value: object, limit: int = 40) -> str:
    """Show a user's value briefly: strings quoted, containers named, long text cut."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def join_known(names: Iterable[str]) -> str:
    """Sorted, comma-separated names for "(known: a, b, c)"."""
    return ", ".join(sorted(set(names)))
