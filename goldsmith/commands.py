"""What each invoke task does, as plain functions (tested without invoke); tasks.py only adapts."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from goldsmith.errors import InputError

if TYPE_CHECKING:
    from goldsmith.pipeline.record import RunRecord
    from goldsmith.recipe.pipeline_loader import LoadedPipeline


@dataclass(frozen=True)
class Settings:
    """Resolved by the tasks from CLI flags, then invoke config (its defaults: goldsmith.tasks.DEFAULTS)."""

    target: str
    work_dir: Path
    region: str | None = None  # None: boto3's chain decides
    profile: str | None = None
    sandbox_dir: Path | None = None
    plain: bool | None = None
    cache: bool = True  # reuse an image baked from the same inputs (the build cache); False: always bake
    channel_prefix: str = "/goldsmith"  # channels are SSM parameters PREFIX/<recipe>/<channel>


def load(recipe: str, var: Sequence[str]) -> object:
    """Load and check a recipe; every problem at once (RecipeError, exit 2), no AWS call."""
    from goldsmith.recipe.loader import load_recipe, parse_var_args

    path = Path(recipe)
    if not path.exists():
        raise InputError(f"{recipe}: no such recipe file")
    return load_recipe(path, parse_var_args(var), os.environ)


def check(recipe: str, var: Sequence[str]) -> str:
    """Check a recipe, or a pipeline (a file with a top-level `recipes:` list) and every recipe it names."""
    from goldsmith.recipe.loader import LoadedRecipe

    if _is_pipeline(Path(recipe)):
        loaded_pipeline = load_pipeline_file(recipe, var)
        names = ", ".join(loaded_pipeline.members)
        return f"{recipe}: ok — pipeline {loaded_pipeline.pipeline.name}: {names}"
    loaded = load(recipe, var)
    assert isinstance(loaded, LoadedRecipe)
    r = loaded.recipe
    return (f"{recipe}: ok — {r.name} {r.version}, {len(r.provision)} provisioners, "
            f"{len(r.volumes.data)} data volumes")


def bake(recipe: str, var: Sequence[str], settings: Settings, *, manifest: str | None = None,
         keep_on_error: bool = False, force: bool = False,
         source_ami: str | None = None) -> tuple[str, Path, Path | None]:
    """Bake a recipe, or reuse the image an earlier bake made from the same inputs (unless `force` or the
    cache setting is off); returns (summary, manifest path, HTML report path or None). Errors are
    GoldsmithErrors with exit codes.

    `source_ami` builds on that AMI instead of resolving the recipe's source (an upstream image baked
    elsewhere, such as by another CI job)."""
    from goldsmith.bake.api import bake as run_bake
    from goldsmith.bake.context import BakeOptions
    from goldsmith.recipe.loader import LoadedRecipe
    from goldsmith.report.progress import make_display
    from goldsmith.targets import make_target

    if source_ami is not None:
        _check_ami_id(source_ami, flag="--source-ami")
    loaded = load(recipe, var)
    assert isinstance(loaded, LoadedRecipe)
    target = make_target(settings.target, region=settings.region, profile=settings.profile,
                         sandbox_dir=settings.sandbox_dir)
    options = BakeOptions(keep_on_error=keep_on_error, work_dir=settings.work_dir,
                          manifest_path=Path(manifest) if manifest else None, use_cache=settings.cache and not force,
                          source_image_id=source_ami, channel_prefix=settings.channel_prefix)
    result = run_bake(loaded, target, options, display=make_display(settings.plain))
    state = result.state
    amis = ", ".join(f"{r}:{a.image_id}" for r, a in state.artifacts.items())
    if state.reused_from:
        return (f"reused {state.image_name} -> {amis}: baked by build {state.reused_from} from the same inputs "
                f"(fingerprint {state.fingerprint[:12]}); nothing baked, --force bakes anyway (run {state.build_id})",
                result.manifest_path, result.report_path)
    return f"baked {state.image_name} -> {amis} (build {state.build_id})", result.manifest_path, result.report_path


def _is_pipeline(path: Path) -> bool:
    """A pipeline file: under pipelines/, or any YAML whose top level has `recipes:` (a recipe never does)."""
    if path.parent.name == "pipelines":
        return True
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:65536]
    except OSError:
        return False
    return any(line.startswith("recipes:") for line in head.splitlines())


def load_pipeline_file(path: str, var: Sequence[str]) -> LoadedPipeline:
    """Load and check a pipeline and its recipes; every problem at once (RecipeError, exit 2), no AWS call."""
    from goldsmith.recipe.loader import parse_var_args
    from goldsmith.recipe.pipeline_loader import load_pipeline

    if not Path(path).exists():
        raise InputError(f"{path}: no such pipeline file")
    return load_pipeline(Path(path), parse_var_args(var), os.environ)


@dataclass(frozen=True)
class PipelineRequest:
    """`invoke pipeline`'s arguments, after parsing."""

    path: str
    var: tuple[str, ...] = ()
    only: tuple[str, ...] = ()
    concurrency: int | None = None
    plan: bool = False
    resume: str | None = None
    force: bool = False
    manifest: str | None = None
    use: tuple[str, ...] = ()  # NAME=AMI: that recipe is already baked (goldsmith.pipeline.pins)


def pipeline(request: PipelineRequest, settings: Settings, *, report: Callable[[str], None]) -> int:
    """Run (or --plan) a pipeline; returns the exit code (0 all done, 1 a recipe failed, 130 interrupted)."""
    from goldsmith.aws.session import Aws
    from goldsmith.pipeline.plan import CacheAccess, plan, plan_table
    from goldsmith.pipeline.run import PipelineOptions, PipelineRunner, new_record
    from goldsmith.pipeline.summary import summary_table
    from goldsmith.report.pipeline_view import make_pipeline_view
    from goldsmith.targets import make_target

    if request.concurrency is not None and request.concurrency < 1:
        raise InputError(f"--concurrency {request.concurrency}: give at least 1")
    loaded = load_pipeline_file(request.path, request.var)
    manifest_path = Path(request.manifest) if request.manifest else None
    if manifest_path is not None and manifest_path.is_dir():
        raise InputError(f"--manifest {manifest_path}: this is a directory; give a file name")
    use_cache = settings.cache and not request.force
    options = PipelineOptions(work_dir=settings.work_dir, concurrency=request.concurrency, only=request.only,
                              resume=request.resume, use_cache=use_cache, manifest_path=manifest_path,
                              channel_prefix=settings.channel_prefix)
    record = new_record(loaded, options)
    _pin(record, loaded, request, settings)
    target = make_target(settings.target, region=settings.region, profile=settings.profile,
                         sandbox_dir=settings.sandbox_dir)
    if request.plan:
        cache = (CacheAccess(Aws(target.aws_settings()), settings.work_dir, settings.channel_prefix)
                 if use_cache else None)
        report(plan_table(plan(loaded, record, force=request.force, cache=cache)))
        return 0
    target.aws_settings()  # once, in this thread: the sandbox comes up (or credentials fail) before any bake
    report(f"pipeline {loaded.pipeline.name}: run {record.run_id}")
    view = make_pipeline_view(loaded.names, settings.plain)
    result = PipelineRunner(loaded, target, options, view, record).run()
    report(summary_table(result.record))
    report(f"manifest: {result.manifest_path}")
    if result.report_path is not None:
        report(f"report: {result.report_path}")
    if result.exit_code == 1:
        report(f"resume with: invoke pipeline {request.path} --resume {record.run_id}")
    return result.exit_code


def _pin(record: RunRecord, loaded: LoadedPipeline, request: PipelineRequest, settings: Settings) -> None:
    """Apply --use: the pinned recipes are reused with the given images (in the build region)."""
    from goldsmith.pipeline.pins import apply_pins, parse_uses

    pins = parse_uses(request.use, loaded, request.only)
    region = settings.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""
    apply_pins(record, loaded, request.only, pins, region)


def export_pipeline(path: str, fmt: str, settings: Settings, *, output: str | None = None,
                    install: str | None = None) -> str:
    """The pipeline as a CI workflow (goldsmith.pipeline.export); written to `output` if given, and returned.

    Bad input (unknown format, a pipeline with mistakes, an output that is a directory) exits 2; no AWS call."""
    from goldsmith.pipeline.export import ExportOptions, check_format, default_install, github_actions

    check_format(fmt)
    if output is not None and Path(output).is_dir():
        raise InputError(f"--output {output}: this is a directory; give a file name (.github/workflows/NAME.yml)")
    loaded = load_pipeline_file(path, ())
    resolved = Path(path).resolve()
    named = resolved.relative_to(loaded.root).as_posix() if resolved.is_relative_to(loaded.root) else path
    options = ExportOptions(pipeline_path=named, install=install or default_install(loaded.root),
                            region=settings.region)
    text = github_actions(loaded, options)
    if output is not None:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text, encoding="utf-8")
    return text


def clean(settings: Settings, *, build_id: str | None, everything: bool, yes: bool,
          regions: Sequence[str], report: Callable[[str], None], images: bool = False,
          older_than: float | None = None) -> int:
    """Remove leftovers of one build (--build-id), of all builds (--all), or, as the reaper (--older-than HOURS),
    of every build not running, in every region of the account; returns how many.

    Never the AMIs of succeeded builds; images of builds with no local journal only with `images`
    (the rule is in goldsmith.images.clean)."""
    from datetime import timedelta

    from goldsmith.aws.account import enabled_regions
    from goldsmith.aws.session import Aws
    from goldsmith.images.clean import clean as run_clean
    from goldsmith.recipe.hints import did_you_mean
    from goldsmith.recipe.model import Build
    from goldsmith.recipe.regions import REGIONS
    from goldsmith.targets import make_target

    if not build_id and not everything and older_than is None:
        raise InputError("clean: say which build (--build-id ID), --all, or --older-than HOURS")
    if build_id and (everything or older_than is not None):
        raise InputError("clean: --build-id excludes --all and --older-than")
    if older_than is not None and not (0 <= older_than < 1e6):
        raise InputError(f"clean --older-than {older_than:g}: give 0 or more hours")
    for region in regions:  # a typo must not reach AWS (nor exit 1 from there)
        if region not in REGIONS:
            raise InputError(f"clean --region: unknown region {region!r}{did_you_mean(region, REGIONS)}")
    target = make_target(settings.target, region=settings.region, profile=settings.profile,
                         sandbox_dir=settings.sandbox_dir)
    aws = Aws(target.aws_settings())
    default = enabled_regions(aws) if older_than is not None else [aws.region]
    result = run_clean(aws, regions=list(regions) or default, work_dir=settings.work_dir,
                       build_id=build_id, waits=target.waits(Build()), dry_run=not yes, report=report,
                       images=images, older_than=timedelta(hours=older_than) if older_than is not None else None)
    if result.failures:
        from goldsmith.errors import CleanupError

        raise CleanupError("could not remove, delete manually:\n  " + "\n  ".join(result.failures))
    if not yes and result.count:
        report(f"{result.count} resources would be removed; run again with --yes to remove them")
    return result.count


def validate(image_or_recipe: str, suites: Sequence[str], var: Sequence[str], settings: Settings, *,
             user: str | None = None, instance_type: str | None = None) -> str:
    """Validate an existing AMI (ami-...) or a recipe's newest AMI on a throwaway instance; returns a summary."""
    from goldsmith.bake.api import ValidateRequest, validate_image
    from goldsmith.recipe.loader import LoadedRecipe, parse_var_args
    from goldsmith.report.progress import make_display
    from goldsmith.targets import make_target

    checked = _suite_args(suites)
    if image_or_recipe.startswith("ami-"):
        request = ValidateRequest(image_ref=image_or_recipe, loaded=None, suites=checked,
                                  variables=tuple(parse_var_args(var).items()), username=user,
                                  instance_type=instance_type)
    else:
        loaded = load(str(_recipe_file(image_or_recipe)), var)
        assert isinstance(loaded, LoadedRecipe)
        request = ValidateRequest(image_ref=loaded.recipe.name, loaded=loaded, suites=checked, username=user,
                                  instance_type=instance_type)
    target = make_target(settings.target, region=settings.region, profile=settings.profile,
                         sandbox_dir=settings.sandbox_dir)
    outcome = validate_image(request, target, work_dir=settings.work_dir, display=make_display(settings.plain))
    result = outcome.result
    return f"{outcome.image_id} passed validation: {result.summary_line()} (report {result.junit_path})"


def _recipe_file(name_or_path: str) -> Path:
    """A recipe file as given, else a recipe's name looked up as `source.recipe` is (recipes/NAME.yaml|.yml)."""
    from goldsmith.recipe.loader import source_recipe_path

    path = Path(name_or_path)
    if path.exists() or "/" in name_or_path or path.suffix in (".yaml", ".yml"):
        return path
    try:
        return source_recipe_path(Path.cwd(), name_or_path)
    except InputError:
        return path  # load() says "no such recipe file"


def _suite_args(suites: Sequence[str]) -> tuple[str, ...]:
    """--suite paths, checked to exist before anything is launched."""
    missing = [s for s in suites if not Path(s).exists()]
    if missing:
        raise InputError(f"--suite: no such file or directory: {', '.join(missing)}")
    return tuple(suites)


def share(settings: Settings, image_id: str, *, accounts: Sequence[str], organizations: Sequence[str],
          ous: Sequence[str], snapshots: bool = False, public: bool = False, remove: bool = False) -> str:
    """Grant (or --remove) launch/snapshot permissions on an existing AMI; idempotent. Input is checked
    before any AWS call, and 'all accounts' is only ever the explicit --public flag."""
    from goldsmith.aws.session import Aws
    from goldsmith.aws.sharing import grantee
    from goldsmith.images.share import share_image, share_spec
    from goldsmith.targets import make_target

    spec = share_spec(accounts, organizations, ous, snapshots=snapshots, public=public)
    _check_ami_id(image_id)
    target = make_target(settings.target, region=settings.region, profile=settings.profile,
                         sandbox_dir=settings.sandbox_dir)
    aws = Aws(target.aws_settings())
    result = share_image(aws, aws.region, image_id, spec, remove=remove)
    warned = "".join(f"\nwarning: {w}" for w in result.warnings)
    if not result.changed:
        return f"{image_id} ({result.region}): nothing to change{warned}"
    verb = "removed" if remove else "granted"
    who = ", ".join(grantee(e) for e in result.launch_changed) or "none"
    changed = ", ".join(result.snapshots_changed)
    snaps = f"; snapshot permissions {verb} on {changed}" if changed else ""
    return f"{image_id} ({result.region}): launch permissions {verb}: {who}{snaps}{warned}"


def copy(settings: Settings, image_id: str, *, regions: Sequence[str], kms_keys: Sequence[str],
         report: Callable[[str], None]) -> str:
    """Copy an existing AMI to other regions in parallel, with its tags, permissions and deprecation."""
    from goldsmith.aws.session import Aws
    from goldsmith.images.copy import copy_image_to_regions, parse_kms_keys
    from goldsmith.recipe.model import Build
    from goldsmith.recipe.regions import REGIONS
    from goldsmith.targets import make_target

    _check_ami_id(image_id)
    unknown = [r for r in regions if r not in REGIONS]
    if unknown:
        raise InputError(f"copy: unknown region(s) {', '.join(unknown)}")
    keys = parse_kms_keys(kms_keys, list(dict.fromkeys(regions)))
    target = make_target(settings.target, region=settings.region, profile=settings.profile,
                         sandbox_dir=settings.sandbox_dir)
    aws = Aws(target.aws_settings())
    build = Build()
    waits = target.waits(build)
    result = copy_image_to_regions(aws, source_region=aws.region, image_id=image_id,
                                   regions=list(dict.fromkeys(regions)), kms_keys=keys,
                                   timeout=float(build.timeouts.copy), delay=waits.delay,
                                   work_dir=settings.work_dir, report=report)
    made = [f"{c.region}:{c.image_id}" for c in result.copies.values()]
    kept = [f"{r}:{i} (existing)" for r, i in result.existing.items()]
    return f"{image_id} copied -> {', '.join(made + kept)}"


def _check_ami_id(image_id: str, flag: str = "") -> None:
    from goldsmith.recipe import formats

    if not formats.AMI_ID_RE.fullmatch(image_id):
        where = f"{flag} {image_id}: " if flag else ""
        raise InputError(f"{where}{image_id!r} is not an AMI id (like ami-0123456789abcdef0)")
