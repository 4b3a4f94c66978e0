"""Running the bake's sequences: bake() (a recipe in, an AMI and a manifest out) and validate_image()
(`invoke validate`). Both are journaled, cleaned up in reverse on error, Ctrl-C, SIGTERM and
cancellation, and can run in a worker thread (pass a cancel token).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from goldsmith.aws.session import Aws
from goldsmith.aws.tags import BUILD_ID_TAG, COMMIT_TAG, RECIPE_TAG, VERSION_TAG
from goldsmith.aws.wait_log import WaitLog
from goldsmith.bake import sequences
from goldsmith.bake.build_report import write_build_report
from goldsmith.bake.context import BakeContext, BakeOptions, MachineContext
from goldsmith.bake.manifest import manifest_entry
from goldsmith.bake.state import BuildState
from goldsmith.engine.cancel import CancelToken
from goldsmith.engine.journal import Journal
from goldsmith.engine.runner import Step, run_steps
from goldsmith.errors import InputError
from goldsmith.recipe.loader import LoadedRecipe
from goldsmith.recipe.model import Build
from goldsmith.report.events import Display, Events
from goldsmith.report.manifest import write_manifest
from goldsmith.report.redact import Redactor
from goldsmith.report.view import time_sentence
from goldsmith.targets.base import Target
from goldsmith.validate.plan import SuitePlan, plan_for
from goldsmith.validate.suites import SuiteResult

ImageHook = Callable[[str, str], None]


class AnnounceImage:
    """Wraps the step after which the build region's image is usable (validate-image, else register-image)
    and reports it through BakeOptions.on_image_ready; same name, run and cleanup as the step it wraps.

    When the bake then fails or is cancelled, its cleanup reports the image withdrawn *before* the steps
    before it deregister the image and delete its snapshots (cleanup runs in reverse), so whoever started
    work on it can stop that work first.
    """

    def __init__(self, step: Step[BuildState, BakeContext], announce: ImageHook,
                 withdraw: ImageHook | None = None) -> None:
        self.step = step
        self.name = step.name
        self._announce = announce
        self._withdraw = withdraw
        self._announced: tuple[str, str] | None = None

    def run(self, state: BuildState, ctx: BakeContext) -> None:
        self.step.run(state, ctx)
        if state.image_id:
            self._announced = (state.region, state.image_id)
            self._announce(state.region, state.image_id)

    def cleanup(self, state: BuildState, ctx: BakeContext) -> None:
        if self._withdraw is not None and self._announced is not None and state.outcome != "succeeded":
            self._withdraw(*self._announced)
        self.step.cleanup(state, ctx)


def announce_image(steps: list[Step[BuildState, BakeContext]], announce: ImageHook,
                   withdraw: ImageHook | None = None) -> list[Step[BuildState, BakeContext]]:
    """The steps with the last of validate-image / register-image wrapped in AnnounceImage, and check-cache
    too: a build cache hit has its image ready at once (a miss leaves no image id, so announces nothing;
    a reused image is never removed, so it is never withdrawn)."""
    names = [step.name for step in steps]
    wrapped = list(steps)
    for name in ("validate-image", "register-image"):
        if name in names:
            at = names.index(name)
            wrapped[at] = AnnounceImage(steps[at], announce, withdraw)
            break
    if "check-cache" in names:
        at = names.index("check-cache")
        wrapped[at] = AnnounceImage(steps[at], announce)
    return wrapped


@dataclass(frozen=True)
class BakeResult:
    state: BuildState
    manifest_path: Path
    log_path: Path
    report_path: Path | None = None  # the HTML report (None: it could not be written; the log says why)


def new_build_id(prefix: str) -> str:
    """Sortable, unique and readable: base-20261125-101500-3f9a."""
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"


def git_commit(root: Path) -> str:
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def initial_state(loaded: LoadedRecipe, region: str, build_id: str) -> BuildState:
    recipe = loaded.recipe
    now = time.gmtime()
    facts = {
        "build_id": build_id,
        "timestamp": time.strftime("%Y%m%d%H%M%S", now),
        "date": time.strftime("%Y-%m-%d", now),
        "recipe_name": recipe.name,
        "recipe_version": recipe.version,
        "region": region,
        "source_ami": "",
        "source_ami_name": "",
    }
    tags = {BUILD_ID_TAG: build_id, RECIPE_TAG: recipe.name, VERSION_TAG: recipe.version}
    commit = git_commit(loaded.root)
    if commit:
        tags[COMMIT_TAG] = commit
    return BuildState(build_id=build_id, region=region, facts=facts, tags=tags)


def _check_manifest_path(path: Path) -> None:
    """A manifest that cannot be written is bad input, found before anything is created (not after)."""
    if path.is_dir():
        raise InputError(f"--manifest {path}: this is a directory; give a file name like {path / 'manifest.json'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--manifest {path}: cannot create its directory: {exc.strerror or exc}") from exc


@dataclass
class _Run:
    """A run's log and journal, opened before its first step and closed after its last cleanup."""

    build_id: str
    events: Events
    journal: Journal
    log_path: Path

    @classmethod
    def open(cls, work: Path, build_id: str, recipe: str, target: Target, redactor: Redactor,
             display: Display | None) -> _Run:
        log_path = work / "logs" / f"{build_id}.jsonl"
        events = Events(log_path, display, redactor, build_id)
        journal = Journal(path=work / "builds" / f"{build_id}.json", build_id=build_id, recipe=recipe,
                          target=target.name)
        journal.save()  # at the start, so even a run killed early has one
        return cls(build_id, events, journal, log_path)


def bake(
    loaded: LoadedRecipe,
    target: Target,
    options: BakeOptions,
    *,
    display: Display | None = None,
    steps: Sequence[Step[BuildState, BakeContext]] | None = None,
    build_id: str | None = None,
    cancel: CancelToken | None = None,
) -> BakeResult:
    """Run a whole bake. Raises a GoldsmithError (already cleaned up) when it fails."""
    aws = Aws(target.aws_settings())
    region = aws.region
    build_id = build_id or new_build_id(loaded.recipe.name)
    manifest_path = options.manifest_path or options.work_dir / "manifests" / f"{build_id}.json"
    _check_manifest_path(manifest_path)
    if steps is None:  # bad input (a bastion key file that does not load) fails here, before any AWS call
        features = sequences.Features.of(loaded, region, options.extra_suites)
        steps = sequences.bake(loaded, features, work_dir=options.work_dir, extra_suites=options.extra_suites,
                               key=sequences.bastion_key(loaded), cache=options.use_cache).steps
    if options.on_image_ready is not None:
        steps = announce_image(list(steps), options.on_image_ready, options.on_image_withdrawn)
    state = initial_state(loaded, region, build_id)
    redactor = Redactor(loaded.secrets)
    run = _Run.open(options.work_dir, build_id, loaded.recipe.name, target, redactor, display)
    token = cancel or CancelToken()
    events = run.events
    waited = WaitLog(listener=lambda record: events.data("wait", **record.as_log()))
    ctx = BakeContext(aws=aws, target=target, journal=run.journal, events=run.events,
                      waits=replace(target.waits(loaded.recipe.build), cancel=token, log=waited), options=options,
                      cancel=token, loaded=loaded)
    started = time.monotonic()
    run.events.info(f"build {build_id}: {loaded.recipe.name} {loaded.recipe.version} on {target.name} in {region}")
    report: Path | None = None
    try:
        run_steps(list(steps), state, ctx)
    finally:
        run.journal.finish(state.outcome if state.outcome != "running" else "failed")
        spent = waited.accounting(time.monotonic() - started)
        run.events.data("time", **spent)
        run.events.info(f"time: {time_sentence(spent)}")
        entry = manifest_entry(state, recipe=loaded.recipe.name, version=loaded.recipe.version, target=target.name,
                               requests=aws.requests(), time_spent=spent)
        entry = json.loads(redactor(json.dumps(entry)))
        write_manifest(manifest_path, entry)
        run.events.info(f"manifest: {manifest_path}")
        report = _write_report(options.work_dir, build_id, entry, redactor, run.events)
        run.events.close()
    return BakeResult(state=state, manifest_path=manifest_path, log_path=run.log_path, report_path=report)


def _write_report(work_dir: Path, build_id: str, entry: dict[str, Any], redactor: Redactor,
                  events: Events) -> Path | None:
    """The HTML report beside the manifest; a report that cannot be written is a warning, never a failed bake."""
    try:
        path = write_build_report(work_dir, build_id, entry=entry, redactor=redactor)
    except Exception as exc:  # whatever went wrong (a disk, a template), the bake's own outcome stands
        events.warn(f"the HTML report could not be written: {type(exc).__name__}: {exc}")
        return None
    events.info(f"report: {path}")
    return path


@dataclass(frozen=True)
class ValidateRequest:
    """What `invoke validate` checks and with what: an AMI id or a recipe, extra suites, variables."""

    image_ref: str  # ami-... or a recipe's name (its newest image)
    loaded: LoadedRecipe | None
    suites: tuple[str, ...] = ()
    variables: tuple[tuple[str, str], ...] = ()  # --var name=value, when no recipe resolves them
    username: str | None = None
    instance_type: str | None = None


@dataclass(frozen=True)
class ValidateOutcome:
    image_id: str
    build_id: str
    result: SuiteResult
    log_path: Path
    state: BuildState = field(repr=False)


def validate_image(request: ValidateRequest, target: Target, *, work_dir: Path, display: Display | None,
                   cancel: CancelToken | None = None) -> ValidateOutcome:
    """`invoke validate`: launch an instance from the image, run the suites, remove it all.

    A run of its own (build id validate-..., journaled), so `invoke clean --build-id` removes what a
    SIGKILL left; a failing suite raises ValidationFailed, Ctrl-C/SIGTERM Interrupted (cleaned up).
    """
    loaded = request.loaded
    build = _build_settings(request)
    suites_given = bool(request.suites) or bool(loaded and loaded.recipe.validate_.suites)
    if not suites_given:
        raise InputError("nothing to validate with: give --suite PATH (repeatable), or a recipe with validate.suites")
    aws = Aws(target.aws_settings())
    region = aws.region
    recipe_name = loaded.recipe.name if loaded else "validate"
    build_id = new_build_id("validate")
    junit = work_dir / "reports" / f"{build_id}.xml"

    def plan(state: BuildState) -> SuitePlan:
        if loaded is not None:
            facts = {"build_id": build_id, "recipe_name": recipe_name, "region": region,
                     "image_id": state.image["ImageId"]}
            return plan_for(loaded, facts=facts, extra_suites=request.suites, junit_path=junit)
        return SuitePlan(suites=tuple(Path(s).resolve() for s in request.suites), env={"GOLDSMITH_REGION": region},
                         variables=dict(request.variables), secrets=frozenset(), timeout=1800.0, junit_path=junit)

    sequence = sequences.validate_image(request.image_ref, loaded, build,
                                        request.instance_type or build.instance_type, plan)
    tags = {BUILD_ID_TAG: build_id, RECIPE_TAG: recipe_name, VERSION_TAG: loaded.recipe.version if loaded else "0"}
    state = BuildState(build_id=build_id, region=region, facts={"build_id": build_id, "region": region}, tags=tags)
    run = _Run.open(work_dir, build_id, recipe_name, target, Redactor(loaded.secrets if loaded else ()), display)
    token = cancel or CancelToken()
    ctx = MachineContext(aws=aws, target=target, journal=run.journal, events=run.events,
                         waits=replace(target.waits(build), cancel=token), options=BakeOptions(work_dir=work_dir),
                         cancel=token)
    try:
        run_steps(list(sequence.steps), state, ctx)
    finally:
        run.journal.finish(state.outcome if state.outcome != "running" else "failed")
        run.events.close()
    assert state.image_result is not None
    return ValidateOutcome(image_id=state.image["ImageId"], build_id=build_id, result=state.image_result,
                           log_path=run.log_path,
                           state=state)


def _build_settings(request: ValidateRequest) -> Build:
    """The recipe's build settings (network, SSH user) or the defaults; --user overrides the user."""
    build = request.loaded.recipe.build if request.loaded else Build()
    if request.username:
        build = build.model_copy(update={"ssh_username": request.username})
    return build
