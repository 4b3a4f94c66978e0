"""Progress on the console: a live line on a terminal (goldsmith.report.live), plain lines elsewhere."""

from __future__ import annotations

import sys

from goldsmith.report.events import Display, PlainDisplay


def make_display(plain: bool | None = None) -> Display:
    """Rich on a terminal, plain timestamped lines in CI and pipes."""
    if plain is None:
        plain = not sys.stderr.isatty()
    if plain:
        return PlainDisplay()  # rich is imported only for a terminal (~0.1 s of a bake's start-up)
    from goldsmith.report.live import RichDisplay

    return RichDisplay()
