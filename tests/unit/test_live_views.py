"""The terminal views (rich) show what the plain ones do, and a run that is not on a terminal never imports rich
(~0.1 s of every bake's start-up)."""

from __future__ import annotations

import io
import subprocess
import sys

from rich.console import Console

from goldsmith.report.live import RichDisplay, RichPipelineView


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=120, color_system=None), out


def test_a_bakes_live_line_and_its_step_results() -> None:
    console, out = _console()
    display = RichDisplay(console)
    display.step_started("launch-instance")
    display.line("launched i-0123")
    display.step_finished("launch-instance", "ok", 1.25)
    display.step_finished("provision", "failed", 0.5)
    display.close()
    text = out.getvalue()
    assert "✓ launch-instance 1.25 s" in text and "✗ provision 0.50 s" in text and "launched i-0123" in text


def test_a_pipelines_live_table_shows_every_recipe() -> None:
    console, out = _console()
    view = RichPipelineView(["base", "web"], console)
    view.status("base", "running")
    view.display_for("base").step_started("provision")
    view.display_for("base").step_finished("provision", "ok", 2.0)
    view.display_for("web").line("WARNING: slow")
    view.status("base", "baked", "ami-1")
    view.status("web", "failed", "boom")
    view.close()
    text = out.getvalue()
    assert "✓ base provision 2.00 s" in text and "web: WARNING: slow" in text
    for cell in ("recipe", "status", "baked", "ami-1", "failed", "boom"):
        assert cell in text, cell


def test_plain_views_do_not_import_rich() -> None:
    code = ("import sys\n"
            "from goldsmith.report.progress import make_display\n"
            "from goldsmith.report.pipeline_view import make_pipeline_view\n"
            "make_display(plain=True).close(); make_pipeline_view(['a'], plain=True).close()\n"
            "print(sorted(m for m in sys.modules if m == 'rich' or m.startswith('rich.')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
