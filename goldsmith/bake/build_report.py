"""A bake's HTML report, made from the files the bake left in the work dir: its manifest entry
(manifests/), log (logs/), journal (builds/) and the suites' JUnit results (reports/), written to
reports/BUILD_ID.html. The same files re-render it later (`invoke report BUILD_ID`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from goldsmith.engine.journal import Entry, load_journal
from goldsmith.errors import ValidationFailed
from goldsmith.report.build_log import read_log
from goldsmith.report.html import render_build, report_path, write_report
from goldsmith.report.redact import Redactor
from goldsmith.report.view import BuildView, CaseRow, Validation, build_view
from goldsmith.validate.junit import parse_cases

IMAGE_SUITES = "on an instance launched from the image"
BUILD_SUITES = "on the build instance, before the stop (validate.on_build)"


def write_build_report(work_dir: Path, build_id: str, *, entry: Mapping[str, Any] | None = None,
                       redactor: Redactor | None = None) -> Path:
    """Render the build's report into WORK_DIR/reports/BUILD_ID.html; returns its path. `entry`: the
    manifest entry when the caller has it (else it is looked up in the work dir's manifests)."""
    view = load_build_view(work_dir, build_id, entry=entry, redactor=redactor)
    return write_report(report_path(work_dir, build_id), render_build(view, redactor))


def load_build_view(work_dir: Path, build_id: str, *, entry: Mapping[str, Any] | None = None,
                    redactor: Redactor | None = None) -> BuildView:
    redact = redactor or Redactor()
    if entry is None:
        entry = find_entry(work_dir, build_id)
    entry = json.loads(redact(json.dumps(entry)))
    log = read_log(work_dir / "logs" / f"{build_id}.jsonl", redact)
    return build_view(build_id, entry, log, _journal(work_dir, build_id), validations(work_dir, build_id, entry))


def find_entry(work_dir: Path, build_id: str) -> dict[str, Any]:
    """The build's manifest entry: in manifests/BUILD_ID.json, else in any manifest of the work dir naming it
    (a pipeline run's); {} when none does (a killed bake, or --manifest elsewhere)."""
    manifests = work_dir / "manifests"
    own = manifests / f"{build_id}.json"
    candidates = [own, *sorted(p for p in manifests.glob("*.json") if p != own)] if manifests.is_dir() else []
    for path in candidates:
        try:
            builds = json.loads(path.read_text(encoding="utf-8")).get("builds", [])
        except (OSError, ValueError, AttributeError):
            continue
        for build in reversed(builds):
            if isinstance(build, dict) and build.get("build_id") == build_id:
                return build
    return {}


def validations(work_dir: Path, build_id: str, entry: Mapping[str, Any]) -> list[Validation]:
    """Each run of the suites, test by test from its JUnit file (the manifest names it; the work dir's
    reports/ is looked in too, for a work dir that moved, such as a CI artifact)."""
    record = entry.get("validation") or {}
    found = []
    build = record.get("build")
    if isinstance(build, dict) or (work_dir / "reports" / f"{build_id}-build.xml").exists():
        junit = str(build.get("junit", "")) if isinstance(build, dict) else ""
        found.append(_validation(BUILD_SUITES, _junit(work_dir, junit, f"{build_id}-build.xml")))
    if record.get("reused"):
        note = (f"nothing ran: the image was reused from build {record.get('build_id', '')}, whose validation "
                f"{'passed' if record['reused'] == 'passed' else 'was not asked for (no suites)'}")
        found.append(Validation(title=IMAGE_SUITES, junit="", tests=(), note=note))
    elif "junit" in record or (work_dir / "reports" / f"{build_id}-image.xml").exists():
        found.append(_validation(IMAGE_SUITES, _junit(work_dir, str(record.get("junit", "")),
                                                      f"{build_id}-image.xml")))
    return found


def _junit(work_dir: Path, named: str, default: str) -> Path:
    path = Path(named) if named else work_dir / "reports" / default
    if not path.exists() and (work_dir / "reports" / path.name).exists():
        return work_dir / "reports" / path.name
    return path


def _validation(title: str, path: Path) -> Validation:
    try:
        cases = parse_cases(path)
    except ValidationFailed:
        return Validation(title=title, junit=str(path), tests=(),
                          note="no results: the suites did not write their JUnit report (stopped or killed?)")
    rows = tuple(CaseRow(c.test, c.outcome, c.seconds, c.message) for c in cases)
    return Validation(title=title, junit=str(path), tests=rows, note="" if rows else "the suites ran no test")


def _journal(work_dir: Path, build_id: str) -> list[Entry] | None:
    try:
        return load_journal(work_dir / "builds" / f"{build_id}.json").entries
    except (OSError, ValueError, KeyError, TypeError):
        return None
