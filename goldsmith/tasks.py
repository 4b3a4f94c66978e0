"""Goldsmith's invoke tasks, shipped with the package: parse arguments, read config, call goldsmith.commands,
turn errors into Exit.

Used three ways: the `goldsmith` console script (goldsmith.cli) bundles this collection; this repository's
tasks.py and a user's own tasks.py say `from goldsmith.tasks import ns` and run it with `invoke`.

Config: the `goldsmith` section's defaults are DEFAULTS below (the collection's configuration, the one
place they live). invoke's usual levels override them: /etc/invoke.yaml, ~/.invoke.yaml, the project's
invoke.yaml (beside tasks.py; `goldsmith` reads the nearest one too), INVOKE_GOLDSMITH_<KEY> variables,
then task flags.
"""

from __future__ import annotations

import functools
import os
import shlex
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit, ParseError
from invoke.program import Program
from invoke.tasks import task

from goldsmith.engine.fast_exit import fast_exit_after
from goldsmith.tasks_adopt import adopt_tasks
from goldsmith.tasks_contents import contents_tasks
from goldsmith.tasks_lifecycle import lifecycle_tasks
from goldsmith.tasks_report import report_tasks

if TYPE_CHECKING:
    from goldsmith.commands import Settings

__all__ = ["DEFAULTS", "exit_2_on_parse_errors", "ns"]

DEFAULTS: MappingProxyType[str, Any] = MappingProxyType({
    "target": "sandbox",       # sandbox (this machine, no AWS account) or aws
    "region": None,            # None: AWS_REGION / AWS_DEFAULT_REGION / profile (sandbox: us-east-1)
    "profile": None,           # None: AWS_PROFILE / the default credential chain
    "work_dir": ".goldsmith",  # journals, logs, manifests, keys
    "sandbox_dir": None,       # None: GOLDSMITH_SANDBOX_DIR, else /var/lib/goldsmith/sandbox
    "plain": None,             # None: rich progress on a terminal, plain lines otherwise
    "cache": None,             # None/true: reuse an image baked from the same inputs; false: always bake
    "channel_prefix": "/goldsmith",  # channels are SSM parameters <channel_prefix>/<recipe>/<channel>
})
"""The `goldsmith` config section's defaults. Every key is listed (even those that default to None):
invoke maps INVOKE_GOLDSMITH_<KEY> only onto keys that exist."""


def exit_2_on_parse_errors() -> None:
    """Make invoke's Program turn argument-parsing errors into exit code 2 (idempotent).

    Invoke's own parser exits 1 when a flag is unknown or an argument is missing; Goldsmith promises 2
    for every kind of bad input, under `invoke` (importing this module) and `goldsmith` alike.
    """
    original: Callable[[Any], None] = Program.parse_tasks
    if getattr(original, "_goldsmith", False):
        return

    @functools.wraps(original)
    def parse_tasks(self: Any) -> None:
        try:
            original(self)
        except ParseError as exc:
            raise Exit(f"error: {exc} (see `{self.binary_names[0]} --help <task>`)", code=2) from exc

    parse_tasks._goldsmith = True  # type: ignore[attr-defined]
    Program.parse_tasks = parse_tasks  # type: ignore[method-assign]


exit_2_on_parse_errors()  # bad arguments exit 2, like every other kind of bad input
Program.execute = fast_exit_after(Program.execute)  # type: ignore[method-assign,assignment]  # no teardown


def _cfg(c: Context, key: str, value: Any = None) -> Any:
    """A task argument, else the `goldsmith` config section (DEFAULTS, overridden as invoke does)."""
    if value not in (None, "", []):
        return value
    section = c.config.get("goldsmith", {})
    return section.get(key, DEFAULTS[key])


def _flag(value: Any) -> bool | None:
    """A tri-state setting: None (decide automatically), a bool, or an env string (true/false/1/0/yes/no)."""
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("", "none", "null", "auto"):
        return None
    return text not in ("0", "false", "no", "off")


def _settings(c: Context, target: str | None = None, region: str | None = None,
              profile: str | None = None) -> Settings:
    from goldsmith.commands import Settings

    sandbox_dir = _cfg(c, "sandbox_dir")
    return Settings(
        target=_cfg(c, "target", target),
        region=_cfg(c, "region", region),
        profile=_cfg(c, "profile", profile),
        work_dir=Path(_cfg(c, "work_dir")),
        sandbox_dir=Path(sandbox_dir) if sandbox_dir else None,
        plain=_flag(_cfg(c, "plain")),
        cache=_flag(_cfg(c, "cache")) is not False,
        channel_prefix=str(_cfg(c, "channel_prefix")),
    )


@contextmanager
def _errors() -> Iterator[None]:
    """GoldsmithError -> Exit with its exit code (2 bad input, 1 failed, 130 interrupted)."""
    from goldsmith.errors import GoldsmithError

    try:
        yield
    except GoldsmithError as exc:
        notes = "\n".join(getattr(exc, "__notes__", []))
        raise Exit(f"error: {exc}" + (f"\n{notes}" if notes else ""), code=exc.exit_code) from exc
    except KeyboardInterrupt as exc:
        raise Exit("interrupted", code=130) from exc


def _whole_number(flag: str, value: object) -> int | None:
    """An optional numeric flag (invoke passes those without a default as text)."""
    from goldsmith.errors import InputError

    if value is None:
        return None
    try:
        return int(str(value))
    except ValueError:
        raise InputError(f"{flag} {value}: give a whole number") from None


def _hours(flag: str, value: object) -> float | None:
    """An optional number of hours (a whole or decimal number, 0 or more)."""
    from goldsmith.errors import InputError

    if value is None:
        return None
    try:
        hours = float(str(value))
    except ValueError:
        raise InputError(f"{flag} {value}: give a number of hours") from None
    if not hours >= 0:
        raise InputError(f"{flag} {value}: give 0 or more hours")
    return hours


def _say(text: str) -> None:
    print(text, flush=True)


TARGET_HELP = (f"where to bake: sandbox (this machine, no account) or aws (default {DEFAULTS['target']}; "
               "config goldsmith.target, INVOKE_GOLDSMITH_TARGET)")


@task(
    help={
        "recipe": "recipe file, e.g. recipes/base.yaml",
        "target": TARGET_HELP,
        "var": "set a recipe variable, name=value (repeatable)",
        "manifest": "write the manifest here (default .goldsmith/manifests/BUILD_ID.json)",
        "keep_on_error": "on failure, leave the build instance running and print how to reach it",
        "force": "bake even when an image baked from the same inputs exists (the build cache would reuse it)",
        "source_ami": "build on this AMI (ami-...) instead of the recipe's source (an upstream image baked elsewhere)",
        "region": "AWS region (default: config goldsmith.region, else AWS_REGION / profile)",
        "profile": "AWS profile (default: config goldsmith.profile, else AWS_PROFILE)",
    },
    iterable=["var"],
)
def bake(c: Context, recipe: str, target: str | None = None, var: list[str] | None = None,
         manifest: str | None = None, keep_on_error: bool = False, force: bool = False, region: str | None = None,
         profile: str | None = None, source_ami: str | None = None) -> None:
    """Bake a recipe into an AMI: launch, provision, snapshot, register, validate, share."""
    from goldsmith import commands

    with _errors():
        summary, path, report = commands.bake(recipe, var or [], _settings(c, target, region, profile),
                                              manifest=manifest, keep_on_error=keep_on_error, force=force,
                                              source_ami=source_ami)
    _say(summary)
    _say(f"manifest: {path}")
    if report is not None:
        _say(f"report: {report}")


@task(
    help={
        "image_or_recipe": "an AMI id (ami-...), or a recipe file or name whose newest AMI is validated",
        "suite": "a testinfra suite file or directory to run (repeatable; added to the recipe's validate.suites)",
        "target": TARGET_HELP,
        "var": "set a recipe variable, name=value (repeatable); suites see it as goldsmith_vars / GOLDSMITH_VAR_*",
        "user": "SSH user on the instance (default: the recipe's build.ssh_username, else admin)",
        "instance_type": "instance type of the test instance (default: the recipe's, else t3.micro)",
        "region": "AWS region (default: config goldsmith.region, else AWS_REGION / profile)",
        "profile": "AWS profile (default: config goldsmith.profile, else AWS_PROFILE)",
    },
    iterable=["suite", "var"],
)
def validate(c: Context, image_or_recipe: str, suite: list[str] | None = None, target: str | None = None,
             var: list[str] | None = None, user: str | None = None, instance_type: str | None = None,
             region: str | None = None, profile: str | None = None) -> None:
    """Validate an existing AMI with testinfra suites on a throwaway instance launched from it."""
    from goldsmith import commands

    with _errors():
        _say(commands.validate(image_or_recipe, suite or [], var or [], _settings(c, target, region, profile),
                               user=user, instance_type=instance_type))


@task(help={"recipe": "recipe (or pipeline) file to check", "var": "set a recipe variable, name=value (repeatable)"},
      iterable=["var"])
def check(c: Context, recipe: str, var: list[str] | None = None) -> None:
    """Check a recipe or a pipeline without touching AWS: every mistake at once, with file:line:column."""
    from goldsmith import commands

    with _errors():
        _say(commands.check(recipe, var or []))


@task(
    help={
        "build_id": "remove what this build left (also its image kept by validate.on_failure: keep)",
        "all": "remove what any killed or failed Goldsmith build left; never a succeeded build's AMI",
        "images": "also remove images/snapshots of builds with no journal in this work dir (baked elsewhere)",
        "older_than": "the reaper: also builds with no journal here once older than HOURS (safe from cron: running "
                      "bakes are never touched); searches every region of the account",
        "yes": "really remove (without it, only list what would go)",
        "target": TARGET_HELP,
        "region": "region to search (repeatable; default the current one, with --older-than every enabled one)",
        "profile": "AWS profile",
    },
    iterable=["region"],
)
def clean(c: Context, build_id: str | None = None, all: bool = False, yes: bool = False, images: bool = False,
          older_than: str | None = None, target: str | None = None, region: list[str] | None = None,
          profile: str | None = None) -> None:
    """Remove resources left by killed or failed bakes; the AMIs of succeeded builds always stay.

    Instances, volumes, key pairs and security groups tagged goldsmith:build-id are always removed
    (unless that bake is still running). Images and snapshots are removed only for builds whose
    journal (work dir builds/ID.json) says they did not succeed; images tagged
    goldsmith:validation=failed only with --build-id; those of builds with no journal here only
    with --images. As the reaper (--older-than HOURS, safe from cron), also builds with no journal here
    once older than HOURS, in every enabled region; a running bake is never touched.
    """
    from goldsmith import commands

    with _errors():
        hours = _hours("--older-than", older_than)
        count = commands.clean(_settings(c, target, None, profile), build_id=build_id, everything=all,
                               yes=yes, regions=region or [], report=_say, images=images, older_than=hours)
    _say(f"{'removed' if yes else 'found'} {count} resources")


@task(
    help={
        "ami": "the AMI id (ami-...)",
        "account": "account id to share with (repeatable)",
        "org": "organization ARN to share with (repeatable)",
        "ou": "organizational unit ARN to share with (repeatable)",
        "snapshots": "also grant createVolumePermission on the AMI's snapshots to the accounts",
        "public": "share with every AWS account (Group: all); the only way to make an AMI public",
        "remove": "take these permissions away instead of granting them",
        "target": TARGET_HELP,
        "region": "region of the AMI (default: config goldsmith.region, else AWS_REGION / profile)",
        "profile": "AWS profile (default: config goldsmith.profile, else AWS_PROFILE)",
    },
    iterable=["account", "org", "ou"],
)
def share(c: Context, ami: str, account: list[str] | None = None, org: list[str] | None = None,
          ou: list[str] | None = None, snapshots: bool = False, public: bool = False, remove: bool = False,
          target: str | None = None, region: str | None = None, profile: str | None = None) -> None:
    """Share an existing AMI with accounts, organizations, OUs (or --remove them); idempotent."""
    from goldsmith import commands

    with _errors():
        _say(commands.share(_settings(c, target, region, profile), ami, accounts=account or [],
                            organizations=org or [], ous=ou or [], snapshots=snapshots, public=public,
                            remove=remove))


@task(
    help={
        "ami": "the AMI id (ami-...) in the current region",
        "region": "region to copy to (repeatable)",
        "kms_key": "encrypt the copies: KEY (same alias in every region) or REGION=KEY (repeatable)",
        "target": TARGET_HELP,
        "source_region": "region of the AMI (default: config goldsmith.region, else AWS_REGION / profile)",
        "profile": "AWS profile (default: config goldsmith.profile, else AWS_PROFILE)",
    },
    iterable=["region", "kms_key"],
)
def copy(c: Context, ami: str, region: list[str] | None = None, kms_key: list[str] | None = None,
         target: str | None = None, source_region: str | None = None, profile: str | None = None) -> None:
    """Copy an existing AMI to other regions in parallel, with its tags, permissions and deprecation."""
    from goldsmith import commands

    with _errors():
        _say(commands.copy(_settings(c, target, source_region, profile), ami, regions=region or [],
                           kms_keys=kms_key or [], report=_say))


def _checkout() -> str:
    """The Goldsmith checkout this package runs from, shell-quoted for c.cd (which does not quote).

    lint, test, bench and docs run the repository's tooling there, from any directory; not from a wheel."""
    root = Path(__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file() or not (root / "tests").is_dir():
        raise Exit(f"this task runs Goldsmith's own tooling and needs a Goldsmith checkout (git clone, then "
                   f"pip install -e .); goldsmith is installed at {root / 'goldsmith'}", code=2)
    return shlex.quote(str(root))


@task(help={"fix": "let ruff fix what it can"})
def lint(c: Context, fix: bool = False) -> None:
    """ruff and mypy over the package, tasks and tests."""
    with c.cd(_checkout()):
        c.run(f"ruff check {'--fix ' if fix else ''}goldsmith tests bench tasks.py", pty=False)
        c.run("mypy goldsmith tasks.py", pty=False)


@task(help={"k": "only tests matching this expression", "quick": "skip the slow kill matrix",
            "workers": "pytest processes, each with its own sandbox (default: the CPUs, at least 2; 1: this one)"})
def test(c: Context, k: str | None = None, quick: bool = False, workers: int = 0) -> None:
    """Run the whole test suite (unit + sandbox end to end)."""
    count = workers or max(2, os.cpu_count() or 1)
    # loadgroup: tests spread by load, except those marked xdist_group("name"), which share one worker in file
    # order (test_lifecycle's steps build on each other: promote, roll back, then bake on the channel)
    args = ["-m 'not slow'" if quick else "", f"-k {k!r}" if k else "",
            f"-n {count} --dist loadgroup" if count > 1 else ""]
    with c.cd(_checkout()):
        result = c.run(f"{sys.executable} -m pytest {' '.join(a for a in args if a)}", pty=False, warn=True)
    if result is not None and result.exited:
        raise Exit(code=result.exited)


@task(help={"quick": "one short repetition of each benchmark (CI runs it so they keep working)"})
def bench(c: Context, quick: bool = False) -> None:
    """Run the benchmarks in bench/: a table of figures and goals, then one JSON line per figure."""
    with c.cd(_checkout()):
        result = c.run(f"{sys.executable} bench/run.py{' --quick' if quick else ''}", pty=False, warn=True)
    if result is not None and result.exited:
        raise Exit(code=result.exited)


@task
def docs(c: Context) -> None:
    """Regenerate the recipe and pipeline references (docs/), JSON Schemas (schema/) and IAM policies
    (docs/iam-policy*.json) from the code."""
    with c.cd(_checkout()):
        c.run(f"{sys.executable} -m goldsmith.recipe.schema --markdown > docs/recipe-reference.md")
        c.run(f"{sys.executable} -m goldsmith.recipe.schema --json > schema/recipe.schema.json")
        c.run(f"{sys.executable} -m goldsmith.recipe.schema --pipeline --markdown > docs/pipeline-reference.md")
        c.run(f"{sys.executable} -m goldsmith.recipe.schema --pipeline --json > schema/pipeline.schema.json")
        c.run(f"{sys.executable} -m goldsmith.aws.permissions > docs/iam-policy.json")
        c.run(f"{sys.executable} -m goldsmith.aws.permissions --sharing > docs/iam-policy-sharing.json")


def _sandbox_dir(c: Context) -> Path:
    from goldsmith.sandbox import manage

    configured = _cfg(c, "sandbox_dir")
    return Path(configured) if configured else manage.default_state_dir()


@task(name="up")
def sandbox_up(c: Context) -> None:
    """Start the sandbox (moto + gateway + instance runtime) in the background; idempotent."""
    from goldsmith.sandbox import manage

    with _errors():
        info = manage.up(_sandbox_dir(c), progress=lambda line: print(line, file=sys.stderr, flush=True))
        for line in manage.env_lines(info):
            _say(line)


@task(name="down")
def sandbox_down(c: Context) -> None:
    """Stop the sandbox: every instance, mount and process it started."""
    from goldsmith.sandbox import manage

    with _errors():
        manage.down(_sandbox_dir(c))
    _say("sandbox stopped")


@task(name="status")
def sandbox_status(c: Context) -> None:
    """List the sandbox's instances (id, state, endpoint, AMI) and snapshots with their sizes."""
    from goldsmith.sandbox import manage

    with _errors():
        _say(manage.status_text(_sandbox_dir(c)))


@task(name="env")
def sandbox_env(c: Context) -> None:
    """Print the environment for the sandbox: eval "$(invoke sandbox.env)"."""
    from goldsmith.sandbox import manage

    with _errors():
        info = manage.up(_sandbox_dir(c), progress=lambda line: print(line, file=sys.stderr, flush=True))
        for line in manage.env_lines(info):
            _say(line)


@task(name="endpoint", help={"instance_id": "the sandbox instance, i-..."})
def sandbox_endpoint(c: Context, instance_id: str) -> None:
    """Print HOST PORT of a sandbox instance's SSH server."""
    from goldsmith.sandbox import manage

    with _errors():
        info = manage.up(_sandbox_dir(c))
        host, port = info.client().endpoint(instance_id)
    _say(f"{host} {port}")


@task(
    name="run",
    default=True,
    help={
        "pipeline": "pipeline file, e.g. pipelines/release.yaml",
        "only": "bake only this recipe and those it builds on (repeatable)",
        "concurrency": "how many bakes at once (default: the pipeline's `concurrency`)",
        "plan": "print what would be baked, reused or skipped, and why; change nothing",
        "resume": "continue run RUN_ID: reuse what it baked, bake what failed or did not run",
        "force": "bake every selected recipe, even those an existing image could stand for",
        "manifest": "write the run's manifest here (default .goldsmith/manifests/RUN_ID.json)",
        "var": "set a variable of every recipe that declares it, name=value (repeatable)",
        "use": "RECIPE=AMI: that recipe is already baked; build on this image, bake neither it nor what only "
               "it needs (repeatable)",
        "target": TARGET_HELP,
        "region": "AWS region of the bakes (default: config goldsmith.region, else AWS_REGION / profile)",
        "profile": "AWS profile (default: config goldsmith.profile, else AWS_PROFILE)",
    },
    iterable=["only", "var", "use"],
)
def pipeline_run(c: Context, pipeline: str, only: list[str] | None = None, concurrency: int | None = None,
                 plan: bool = False, resume: str | None = None, force: bool = False, manifest: str | None = None,
                 var: list[str] | None = None, target: str | None = None, region: str | None = None,
                 profile: str | None = None, use: list[str] | None = None) -> None:
    """Bake a pipeline's recipes, independent ones at the same time, each on the images this run made."""
    from goldsmith import commands

    with _errors():
        limit = _whole_number("--concurrency", concurrency)
    request = commands.PipelineRequest(path=pipeline, var=tuple(var or ()), only=tuple(only or ()),
                                       concurrency=limit, plan=plan, resume=resume, force=force,
                                       manifest=manifest, use=tuple(use or ()))
    with _errors():
        code = commands.pipeline(request, _settings(c, target, region, profile), report=_say)
    if code:
        raise Exit(code=code)


@task(
    name="export",
    help={
        "pipeline": "pipeline file, e.g. pipelines/release.yaml",
        "format": "what to write: github-actions (a workflow, one job per recipe)",
        "output": "write it here, e.g. .github/workflows/release.yml (default: print it)",
        "install": "the shell command that installs Goldsmith on the runner (default: `pip install -e .` in a "
                   "Goldsmith checkout, else `pip install goldsmith==VERSION`)",
        "region": "the bakes' build region (default: config goldsmith.region, else the repository variable "
                  "AWS_REGION)",
    },
)
def pipeline_export(c: Context, pipeline: str, format: str = "github-actions", output: str | None = None,
                    install: str | None = None, region: str | None = None) -> None:
    """Write a pipeline as a CI workflow: one job per recipe, each on its upstream jobs' images."""
    from goldsmith import commands

    with _errors():
        text = commands.export_pipeline(pipeline, format, _settings(c, None, region, None), output=output,
                                        install=install)
    if output is None:
        print(text, end="", flush=True)
    else:
        _say(f"wrote {output}: check it with actionlint, commit it, run it from the Actions tab")


pipeline = Collection("pipeline")
pipeline.add_task(pipeline_run)
pipeline.add_task(pipeline_export)

sandbox = Collection("sandbox")
sandbox.add_task(sandbox_up)
sandbox.add_task(sandbox_down)
sandbox.add_task(sandbox_status)
sandbox.add_task(sandbox_env)
sandbox.add_task(sandbox_endpoint)

lifecycle = lifecycle_tasks(_settings, _errors, _say, _whole_number)  # promote, rollback, images, prune
adopt = adopt_tasks(_errors, _say)  # init, import-packer
reports = report_tasks(_settings, _errors, _say)  # report
contents = contents_tasks(_settings, _errors, _say)  # diff
ns = Collection(bake, check, clean, share, copy, validate, *lifecycle, *adopt, *reports, *contents, lint, test, bench,
                docs, pipeline, sandbox)
ns.configure({"goldsmith": dict(DEFAULTS)})
