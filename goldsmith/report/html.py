"""Rendering the HTML report: a BuildView or PipelineView through the package's jinja2 templates
(goldsmith/report/templates/), autoescaped, into one self-contained file: CSS and SVG inline, no script, no
external asset (its Content-Security-Policy lets it load nothing), so it opens anywhere without a network.

The last pass masks the run's secrets, raw and HTML-escaped, although every input was redacted already.
"""

from __future__ import annotations

import html
from functools import lru_cache
from pathlib import Path

import jinja2

from goldsmith.engine.files import user_cache_dir, write_text_atomic
from goldsmith.report.redact import Redactor
from goldsmith.report.view import BuildView, PipelineView


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("goldsmith.report", "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              bytecode_cache=_bytecode_cache())


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """The templates compiled once per jinja2 release, not by every bake (~0.1 s each time on a 2-core EPYC);
    jinja2 checks each cached template's source checksum. None (compile each time) when there is no cache."""
    try:
        directory = user_cache_dir(f"jinja2-{jinja2.__version__}")
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # compiled code is loaded from here: ours only
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(str(directory))


def _masked(text: str, redactor: Redactor | None) -> str:
    if redactor is None or not redactor.secrets:
        return text
    escaped = Redactor(html.escape(s) for s in redactor.secrets)
    return escaped(redactor(text))


def render_build(view: BuildView, redactor: Redactor | None = None) -> str:
    """The report of one bake, as HTML text."""
    return _masked(_environment().get_template("build.html").render(view=view), redactor)


def render_pipeline(view: PipelineView, redactor: Redactor | None = None) -> str:
    """The report of a pipeline run (linking each bake's report), as HTML text."""
    return _masked(_environment().get_template("pipeline.html").render(view=view), redactor)


def report_path(work_dir: Path, run_id: str) -> Path:
    """Where a build's or a pipeline run's report goes: WORK_DIR/reports/ID.html, beside its JUnit results."""
    return work_dir / "reports" / f"{run_id}.html"


def write_report(path: Path, text: str) -> Path:
    write_text_atomic(path, text)
    return path
