"""A pipeline run's HTML report: its record (goldsmith.pipeline.record) as a page summarising each recipe's
build and linking its bake's report, written to WORK_DIR/reports/RUN_ID.html beside them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from goldsmith.pipeline.record import record_path
from goldsmith.report.html import render_pipeline, report_path, write_report
from goldsmith.report.redact import Redactor
from goldsmith.report.view import pipeline_view


def write_run_report(work_dir: Path, record: Mapping[str, Any], redactor: Redactor | None = None) -> Path:
    """Render the run's report from its record (as JSON data); returns the report's path."""
    reports = {}
    for run in record.get("recipes", {}).values():
        build_id = str(run.get("build_id", ""))
        if build_id and report_path(work_dir, build_id).exists():
            reports[build_id] = report_path(work_dir, build_id).name  # beside this one: a relative link
    view = pipeline_view(record, reports)
    return write_report(report_path(work_dir, str(record["run_id"])), render_pipeline(view, redactor))


def read_run_record(work_dir: Path, run_id: str) -> dict[str, Any] | None:
    """The run's record as JSON data, or None when the work dir has no (readable) record of that run."""
    try:
        data = json.loads(record_path(work_dir, run_id).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("run_id") == run_id else None
