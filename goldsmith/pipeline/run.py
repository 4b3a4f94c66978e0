"""Run a pipeline: independent recipes bake at the same time in worker threads, up to the concurrency limit.

The main thread schedules and handles signals; each bake runs in its own thread with its own cancel token.
- A recipe starts as soon as every recipe it needs has its image in the build region (validated): it does
  not wait for their copies to other regions or their sharing. It builds on exactly that image.
- A failing bake stops only what depends on it: those not started are skipped, those already running on
  its image are cancelled (the image is being removed) and clean up. Everything else goes on.
- The first Ctrl-C or SIGTERM cancels every running bake; each cleans up, nothing more starts (exit 130).
- The run's record (goldsmith.pipeline.record) is rewritten at every change, for `--resume`.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from goldsmith.aws.session import Aws
from goldsmith.bake.api import bake, new_build_id
from goldsmith.bake.context import BakeOptions
from goldsmith.engine.cancel import CancelToken
from goldsmith.engine.files import write_json_atomic
from goldsmith.engine.signals import CancelScope
from goldsmith.errors import GoldsmithError, InputError, Interrupted
from goldsmith.images.channels import Where, promote_images, read_channels
from goldsmith.pipeline.record import DONE, RecipeRun, RunRecord, load_record
from goldsmith.pipeline.run_report import write_run_report
from goldsmith.recipe.hints import did_you_mean
from goldsmith.recipe.model import Build
from goldsmith.recipe.pipeline_loader import LoadedPipeline
from goldsmith.report.pipeline_view import PipelineView
from goldsmith.report.redact import Redactor
from goldsmith.targets.base import Target


@dataclass(frozen=True)
class PipelineOptions:
    work_dir: Path = Path(".goldsmith")
    concurrency: int | None = None  # None: the pipeline file's
    only: tuple[str, ...] = ()
    resume: str | None = None  # a run id
    use_cache: bool = True  # reuse an image baked from the same inputs (False: --force, or cache off)
    channel_prefix: str = "/goldsmith"
    manifest_path: Path | None = None


@dataclass
class PipelineResult:
    record: RunRecord
    manifest_path: Path
    report_path: Path | None = None  # the run's HTML report (None: it could not be written)

    @property
    def exit_code(self) -> int:
        """From the run's outcome, so a failed channel promotion fails the command as a failed bake does."""
        return {"succeeded": 0, "interrupted": Interrupted.exit_code}.get(self.record.outcome, 1)


ONLY = "not selected (--only)"
WITHDRAW_WAIT = 30.0
"""Seconds a failing bake waits for the scheduler to cancel the bakes built on its image (it always
answers within a quarter second unless it has stopped)."""


def selection(loaded: LoadedPipeline, only: tuple[str, ...]) -> set[str]:
    """The recipes --only names plus every recipe they build on (so they build on this run's images)."""
    if not only:
        return set(loaded.members)
    chosen: set[str] = set()
    for name in only:
        if name not in loaded.members:
            raise InputError(f"--only {name}: no recipe '{name}' in pipeline {loaded.path}"
                             f"{did_you_mean(name, loaded.members)} (recipes: {', '.join(loaded.members)})")
        pending = [name]
        while pending:
            current = pending.pop()
            if current not in chosen:
                chosen.add(current)
                pending.extend(loaded.members[current].needs)
    return chosen


def new_record(loaded: LoadedPipeline, options: PipelineOptions) -> RunRecord:
    """A fresh record, or the resumed run's: what succeeded there is reused, the rest starts over."""
    chosen = selection(loaded, options.only)
    if options.resume:
        record = load_record(options.work_dir, options.resume)
        if record.pipeline != loaded.pipeline.name:
            raise InputError(f"--resume {options.resume}: that run is of pipeline '{record.pipeline}', "
                             f"not '{loaded.pipeline.name}' ({loaded.path})")
        previous = record.recipes
        record.recipes = {}
        record.outcome = "running"
        record.resumed.append(time.time())
    else:
        run_id = new_build_id(loaded.pipeline.name)
        record = RunRecord(run_id=run_id, pipeline=loaded.pipeline.name, path=str(loaded.path), recipes={})
        previous = {}
    for name in loaded.members:
        before = previous.get(name)
        if before is not None and before.status in DONE:
            before.reason = before.reason if before.status == "reused" else f"baked by this run ({before.build_id})"
            before.status = "reused"
            record.recipes[name] = before
        elif name not in chosen:
            record.recipes[name] = RecipeRun(name, status="skipped", reason=ONLY)
        else:
            record.recipes[name] = RecipeRun(name)
    return record


@dataclass
class _Running:
    thread: threading.Thread
    token: CancelToken


@dataclass
class PipelineRunner:
    """Schedules one run; `run()` is called in the main thread."""

    loaded: LoadedPipeline
    target: Target  # shared by the bakes (each makes its own AWS clients from it)
    options: PipelineOptions
    view: PipelineView
    record: RunRecord
    events: queue.Queue[tuple[str, str, Any]] = field(default_factory=queue.Queue)
    running: dict[str, _Running] = field(default_factory=dict)

    @property
    def concurrency(self) -> int:
        return self.options.concurrency or self.loaded.pipeline.concurrency

    def run(self) -> PipelineResult:
        self._save()
        with CancelScope() as scope:
            try:
                self._schedule(scope)
            except BaseException:  # a bug here must not leave bakes running without their cleanup
                scope.cancel("the pipeline's scheduler failed")
                for running in self.running.values():
                    running.thread.join()
                raise
        interrupted = scope.signal_name is not None
        for run in self.record.recipes.values():
            if run.status == "pending":
                reason = f"not started: interrupted by {scope.signal_name}" if interrupted else "not started"
                self._set(run, "cancelled" if interrupted else "skipped", reason)
        failed = any(r.status not in DONE and r.reason != ONLY for r in self.record.recipes.values())
        if not failed and not interrupted and self.loaded.pipeline.channels:
            failed = not self._promote()
        self.record.outcome = "interrupted" if interrupted else ("failed" if failed else "succeeded")
        self.record.finished_at = time.time()
        self._save()
        report = self._report()
        self.view.close()
        return PipelineResult(self.record, self.manifest_path, report)

    # -- scheduling (main thread) --------------------------------------------------------------------

    def _schedule(self, scope: CancelScope) -> None:
        """Start what can start, then handle the bakes' events, until nothing runs."""
        while True:
            if not scope.root.cancelled:
                self._start_ready(scope)
            if not self.running:
                return
            try:
                kind, name, payload = self.events.get(timeout=0.25)
            except queue.Empty:
                continue
            self._handle(kind, name, payload)

    def _start_ready(self, scope: CancelScope) -> None:
        for name, member in self.loaded.members.items():
            run = self.record.recipes[name]
            if run.status != "pending":
                continue
            blocked = [n for n in member.needs if self.record.recipes[n].status in ("failed", "cancelled", "skipped")
                       and self.record.recipes[n].reason != ONLY]
            if blocked:
                self._set(run, "skipped", f"{blocked[0]} did not produce an image")
                continue
            if len(self.running) >= self.concurrency:
                continue
            if all(self.record.recipes[n].image_id for n in member.needs):
                self._start(name, scope.token())

    def _start(self, name: str, token: CancelToken) -> None:
        member = self.loaded.members[name]
        run = self.record.recipes[name]
        pin = self.record.recipes[member.source].image_id if member.source else None
        run.build_id = new_build_id(name)
        run.started_at = time.time()
        run.images, run.entry, run.reason = {}, {}, ""
        thread = threading.Thread(target=self._bake, args=(name, pin, run.build_id, token),
                                  name=f"bake-{name}", daemon=True)
        self.running[name] = _Running(thread, token)
        self._set(run, "running", f"on {pin}" if pin else "")
        thread.start()

    def _handle(self, kind: str, name: str, payload: Any) -> None:
        run = self.record.recipes[name]
        if kind == "ready":
            region, image_id = payload
            run.region = region
            run.images[region] = image_id
            self._save()
            return
        if kind == "withdrawn":  # the bake is failing and is about to remove its image: stop its users first
            run.images.clear()
            self._stop_dependents(name)
            payload.set()
            return
        self.running.pop(name).thread.join()
        run.seconds = round(time.time() - run.started_at, 2)
        run.entry = self._bake_manifest(run.build_id)
        for region, artifact in run.entry.get("artifacts", {}).items():
            run.images[region] = artifact.get("ami_id", "")
        run.region = run.entry.get("region", run.region)
        if payload is None:
            if run.entry.get("reused"):
                self._set(run, "reused", f"same inputs as build {run.entry.get('reused_from', '')}")
            else:
                self._set(run, "baked", "")
            return
        if isinstance(payload, Interrupted):
            self._set(run, "cancelled", str(payload).splitlines()[0] if str(payload) else "interrupted")
        else:
            self._set(run, "failed", _first_line(payload))
        run.images.clear()  # a failed bake removed its image
        self._stop_dependents(name)

    def _stop_dependents(self, name: str) -> None:
        """A recipe that did not produce its image: cancel the bakes running on it (pending ones are
        skipped by the scheduler)."""
        for other in self.loaded.dependents(name):
            running = self.running.get(other)
            if running is not None:
                running.token.cancel(f"{name} failed, and {other} builds on its image")

    def _set(self, run: RecipeRun, status: Any, reason: str) -> None:
        run.status, run.reason = status, reason
        self.view.status(run.name, status, reason)
        self._save()

    def _promote(self) -> bool:
        """Point the pipeline's channels at each recipe's images (every recipe has one); False if one failed
        (that recipe's regions are put back by promote_images; those promoted before it stay)."""
        aws = Aws(self.target.aws_settings())
        where = Where(prefix=self.options.channel_prefix, delay=self.target.waits(Build()).delay)
        for channel in self.loaded.pipeline.channels:
            ready = {name: run for name, run in self.record.recipes.items() if run.status in DONE and run.images}
            try:  # every recipe's current value at once: a request per region, not per recipe and region
                before = read_channels(aws, where, channel, {name: sorted(run.images) for name, run in ready.items()})
            except GoldsmithError as exc:
                self.view.line(f"reading channel {channel} failed: {exc}")
                for run in ready.values():
                    run.reason = f"not promoted to {channel}: {_first_line(exc)}"
                return False
            for name, run in ready.items():
                try:
                    promote_images(aws, recipe=name, channel=channel, images=dict(run.images),
                                   note=f"{name} (pipeline run {self.record.run_id})", where=where,
                                   report=self.view.line, before=before[name])
                except GoldsmithError as exc:
                    self.view.line(f"{name}: promoting to {channel} failed: {exc}")
                    run.reason = f"not promoted to {channel}: {_first_line(exc)}"
                    return False
                if channel not in run.channels:
                    run.channels.append(channel)
        self.view.line(f"promoted to {', '.join(self.loaded.pipeline.channels)}")
        return True

    # -- one bake (worker thread) --------------------------------------------------------------------

    def _bake(self, name: str, pin: str | None, build_id: str, token: CancelToken) -> None:
        member = self.loaded.members[name]
        options = BakeOptions(work_dir=self.options.work_dir, source_image_id=pin, use_cache=self.options.use_cache,
                              channel_prefix=self.options.channel_prefix,
                              on_image_ready=lambda region, image_id: self.events.put(("ready", name,
                                                                                       (region, image_id))),
                              on_image_withdrawn=lambda region, image_id: self._withdraw(name))
        try:
            bake(member.loaded, self.target, options, display=self.view.display_for(name),
                 build_id=build_id, cancel=token)
        except GoldsmithError as exc:
            self.events.put(("done", name, exc))
        except BaseException as exc:  # a bug: report it as this recipe's failure, never kill the others
            self.events.put(("done", name, exc))
        else:
            self.events.put(("done", name, None))

    def _withdraw(self, name: str) -> None:
        """In the failing bake's thread: have the scheduler cancel the bakes built on its image, and wait
        until it has, so their tokens are cancelled before the image and its snapshots are removed."""
        done = threading.Event()
        self.events.put(("withdrawn", name, done))
        done.wait(WITHDRAW_WAIT)

    # -- files -----------------------------------------------------------------------------------------

    def _bake_manifest(self, build_id: str) -> dict[str, Any]:
        path = self.options.work_dir / "manifests" / f"{build_id}.json"
        try:
            builds = json.loads(path.read_text(encoding="utf-8")).get("builds", [])
        except (OSError, ValueError):
            return {}
        return dict(builds[-1]) if builds else {}

    @property
    def manifest_path(self) -> Path:
        return self.options.manifest_path or self.options.work_dir / "manifests" / f"{self.record.run_id}.json"

    def _report(self) -> Path | None:
        """The run's HTML report beside its bakes'; one that cannot be written is a warning, never a failure."""
        secrets = Redactor(s for member in self.loaded.members.values() for s in member.loaded.secrets)
        try:
            path = write_run_report(self.options.work_dir, asdict(self.record), secrets)
        except Exception as exc:  # the run's outcome stands whatever happened to its report
            self.view.line(f"WARNING: the HTML report could not be written: {type(exc).__name__}: {exc}")
            return None
        return path

    def _save(self) -> None:
        self.record.save(self.options.work_dir)
        write_json_atomic(self.manifest_path, run_manifest(self.record))


def run_manifest(record: RunRecord) -> dict[str, Any]:
    """One manifest for the run: every recipe's build (the bake manifest's fields; reused ones marked), in
    Packer's layout, plus each recipe's status."""
    builds = []
    for run in record.recipes.values():
        if run.entry and run.status in DONE:
            reused = run.status == "reused" or bool(run.entry.get("reused"))
            builds.append({**run.entry, "reused": reused, "pipeline_status": run.status})
    return {
        "pipeline": record.pipeline,
        "run_id": record.run_id,
        "outcome": record.outcome,
        "builds": builds,
        "last_run_uuid": record.run_id,
        "recipes": {name: {"status": r.status, "reason": r.reason, "build_id": r.build_id, "images": r.images,
                           "seconds": r.seconds, "channels": r.channels} for name, r in record.recipes.items()},
    }


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
