"""What the HTML report shows, as plain data: a bake's (BuildView) or a pipeline run's (PipelineView), made
from what the run left in the work dir (manifest entry, log, journal, JUnit results) by build_view and
pipeline_view. The template (goldsmith/report/templates/) only lays it out.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from goldsmith.engine.journal import Entry
from goldsmith.report.build_log import BuildLog, OutputBlock
from goldsmith.report.timeline import Span, Timeline, seconds, timeline


@dataclass(frozen=True)
class CaseRow:
    test: str
    outcome: str  # passed | failed | errors | skipped
    seconds: float = 0.0
    message: str = ""


@dataclass(frozen=True)
class Validation:
    """One run of the suites (on the instance from the image, or on the build instance), test by test."""

    title: str
    junit: str
    tests: tuple[CaseRow, ...]
    note: str = ""  # why there are no tests to list

    def count(self, outcome: str) -> int:
        return sum(1 for t in self.tests if t.outcome == outcome)


@dataclass(frozen=True)
class Resource:
    kind: str
    region: str
    id: str
    name: str
    state: str  # what became of it, in words
    css: str  # removed | kept | left | unknown


@dataclass(frozen=True)
class RegionImage:
    region: str
    ami_id: str
    snapshots: tuple[tuple[str, str], ...]
    kms_key: str
    deprecation: str


@dataclass(frozen=True)
class BuildView:
    build_id: str
    recipe: str
    version: str
    target: str
    region: str
    outcome: str
    error: str
    image_name: str
    source_ami: str
    source_ami_name: str
    fingerprint: str
    reused_from: str
    started: str
    duration: str
    timeline: Timeline
    provisioners: tuple[OutputBlock, ...]
    suite_output: tuple[OutputBlock, ...]
    warnings: tuple[str, ...]
    validations: tuple[Validation, ...]
    resources: tuple[Resource, ...]
    images: tuple[RegionImage, ...]
    launch_permissions: tuple[str, ...]
    snapshot_permissions: tuple[str, ...]
    channels: tuple[str, ...]
    requests: tuple[tuple[str, int], ...]
    generated: str = field(default_factory=lambda: _when(time.time()))

    @property
    def request_total(self) -> int:
        return sum(n for _, n in self.requests)


def build_view(build_id: str, entry: Mapping[str, Any], log: BuildLog, journal: Sequence[Entry] | None,
               validations: Sequence[Validation]) -> BuildView:
    """The report of one bake. `entry` is its manifest entry ({} when the run left none: it was killed);
    the steps then come from the log."""
    steps = [Span(s["name"], float(s["started_at"]), float(s["duration"]), str(s["status"]))
             for s in entry.get("steps", [])]
    if not steps:
        steps = [Span(s.name, s.started_at, s.duration, s.status) for s in log.steps]
    outcome = str(entry.get("outcome") or _outcome_from_steps(steps))
    start = min((s.started_at for s in steps), default=log.first)
    end = max((s.started_at + s.duration for s in steps), default=log.last)
    return BuildView(
        build_id=build_id, recipe=str(entry.get("recipe", "")), version=str(entry.get("version", "")),
        target=str(entry.get("target", "")), region=str(entry.get("region", "")), outcome=outcome,
        error=str(entry.get("error", "")) or _error_from_log(log), image_name=str(entry.get("image_name") or ""),
        source_ami=str(entry.get("source_ami", "")), source_ami_name=str(entry.get("source_ami_name", "")),
        fingerprint=str(entry.get("fingerprint", "")), reused_from=str(entry.get("reused_from", "")),
        started=_when(start) if start else "", duration=seconds(max(end - start, 0.0)) if start else "",
        timeline=timeline(steps), provisioners=tuple(log.provisioners), suite_output=tuple(log.suites),
        warnings=tuple(log.warnings), validations=tuple(validations),
        resources=tuple(resource_rows(journal, outcome)) if journal is not None else (),
        images=tuple(_images(entry.get("artifacts", {}))),
        launch_permissions=tuple(grantee(p) for p in entry.get("launch_permissions", [])),
        snapshot_permissions=tuple(str(a) for a in entry.get("snapshot_permissions", [])),
        channels=tuple(str(c) for c in entry.get("channels", [])),
        requests=tuple((str(k), int(v)) for k, v in entry.get("requests", {}).items()),
    )


def resource_rows(entries: Sequence[Entry], outcome: str) -> list[Resource]:
    """Every resource the journal recorded, and whether it was removed: the image and its snapshots of a
    build that produced one stay (they are what it made); anything else still there was left behind."""
    rows = []
    for e in entries:
        if e.status == "deleted":
            state, css = "removed", "removed"
        elif e.status == "creating":
            state, css = "unknown: the run stopped during the create call (invoke clean finds it by tag)", "unknown"
        elif e.kind in ("image", "snapshot"):
            product = outcome == "succeeded"
            state, css = ("kept: the build's image" if product else "kept (not removed)"), ("kept" if product
                                                                                               else "left")
        else:
            state, css = "not removed: invoke clean --build-id removes it", "left"
        rows.append(Resource(kind=e.kind, region=e.region, id=e.id, name=e.name, state=state, css=css))
    return rows


def grantee(permission: Mapping[str, Any]) -> str:
    """A launch permission in words: account 1111..., organization arn:..., OU arn:..., everyone."""
    if permission.get("Group") == "all":
        return "everyone (public)"
    for key, word in (("UserId", "account"), ("OrganizationArn", "organization"),
                      ("OrganizationalUnitArn", "organizational unit")):
        if key in permission:
            return f"{word} {permission[key]}"
    return ", ".join(f"{k}={v}" for k, v in permission.items())


def _images(artifacts: Mapping[str, Any]) -> list[RegionImage]:
    return [RegionImage(region=str(region), ami_id=str(a.get("ami_id", "")),
                        snapshots=tuple((str(d), str(s)) for d, s in a.get("snapshots", {}).items()),
                        kms_key=str(a.get("kms_key", "")), deprecation=str(a.get("deprecation_time", "")))
            for region, a in artifacts.items()]


def _outcome_from_steps(steps: Sequence[Span]) -> str:
    """A run without a manifest entry was killed, or is still running."""
    for span in steps:
        if span.status in ("failed", "interrupted"):
            return span.status
    return "unfinished (killed, or still running)" if steps else "unknown"


def _error_from_log(log: BuildLog) -> str:
    return next((s.error for s in log.steps if s.error), "")


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


@dataclass(frozen=True)
class RecipeRow:
    """One recipe of a pipeline run: its status and why, its build (linked to its report) and images."""

    name: str
    status: str
    reason: str
    build_id: str
    report: str  # the bake's report file name (beside the run's), "" when there is none
    images: tuple[tuple[str, str], ...]
    seconds: str
    channels: tuple[str, ...]
    requests: int


@dataclass(frozen=True)
class PipelineView:
    run_id: str
    pipeline: str
    path: str
    outcome: str
    started: str
    duration: str
    timeline: Timeline
    recipes: tuple[RecipeRow, ...]
    generated: str = field(default_factory=lambda: _when(time.time()))

    @property
    def request_total(self) -> int:
        return sum(r.requests for r in self.recipes)


def pipeline_view(record: Mapping[str, Any], reports: Mapping[str, str]) -> PipelineView:
    """The report of a pipeline run from its record (goldsmith.pipeline.record, as JSON); `reports` maps a
    build id to its report's file name when that report exists."""
    rows, spans = [], []
    for name, run in record.get("recipes", {}).items():
        build_id = str(run.get("build_id", ""))
        entry = run.get("entry") or {}
        report = reports.get(build_id, "")
        rows.append(RecipeRow(name=name, status=str(run.get("status", "")), reason=str(run.get("reason", "")),
                              build_id=build_id, report=report,
                              images=tuple((str(r), str(i)) for r, i in run.get("images", {}).items()),
                              seconds=seconds(float(run.get("seconds", 0) or 0)) if run.get("seconds") else "",
                              channels=tuple(str(c) for c in run.get("channels", [])),
                              requests=sum(int(v) for v in entry.get("requests", {}).values())))
        if run.get("started_at"):
            spans.append(Span(name, float(run["started_at"]), float(run.get("seconds", 0) or 0),
                              str(run.get("status", "")), link=report))
    started = float(record.get("started_at", 0) or 0)
    finished = float(record.get("finished_at", 0) or 0)
    return PipelineView(run_id=str(record.get("run_id", "")), pipeline=str(record.get("pipeline", "")),
                        path=str(record.get("path", "")), outcome=str(record.get("outcome", "")),
                        started=_when(started) if started else "",
                        duration=seconds(finished - started) if started and finished else "",
                        timeline=timeline(sorted(spans, key=lambda s: s.started_at)), recipes=tuple(rows))
