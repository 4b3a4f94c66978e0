"""bake(): a loaded recipe in, an AMI (and a manifest) out; everything temporary cleaned up."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from goldsmith.aws.session import Aws
from goldsmith.aws.tags import BUILD_ID_TAG, COMMIT_TAG, RECIPE_TAG, VERSION_TAG
from goldsmith.bake.context import BakeContext, BakeOptions
from goldsmith.bake.journal import Journal
from goldsmith.bake.plan import bake_steps
from goldsmith.bake.runner import Step, run_steps
from goldsmith.bake.state import BuildState
from goldsmith.bake.target import Target
from goldsmith.errors import InputError
from goldsmith.recipe.loader import LoadedRecipe
from goldsmith.report.events import Display, Events
from goldsmith.report.manifest import manifest_entry, write_manifest
from goldsmith.report.redact import Redactor


@dataclass(frozen=True)
class BakeResult:
    state: BuildState
    manifest_path: Path
    log_path: Path


def new_build_id(recipe_name: str) -> str:
    """Sortable, unique and readable: base-20261125-101500-3f9a."""
    return f"{recipe_name}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"


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


def bake(
    loaded: LoadedRecipe,
    target: Target,
    options: BakeOptions,
    *,
    display: Display | None = None,
    steps: Sequence[Step] | None = None,
    build_id: str | None = None,
) -> BakeResult:
    """Run a whole bake. Raises a GoldsmithError (already cleaned up) when it fails."""
    aws = Aws(target.aws_settings())
    region = aws.region
    build_id = build_id or new_build_id(loaded.recipe.name)
    state = initial_state(loaded, region, build_id)
    work = options.work_dir
    log_path = work / "logs" / f"{build_id}.jsonl"
    manifest_path = options.manifest_path or work / "manifests" / f"{build_id}.json"
    _check_manifest_path(manifest_path)
    redactor = Redactor(loaded.secrets)
    events = Events(log_path, display, redactor, build_id)
    journal = Journal(path=work / "builds" / f"{build_id}.json", build_id=build_id,
                      recipe=loaded.recipe.name, target=target.name)
    journal.save()
    ctx = BakeContext(aws=aws, target=target, loaded=loaded, journal=journal, events=events,
                      waits=target.waits(loaded.recipe.build), options=options)
    events.info(f"build {build_id}: {loaded.recipe.name} {loaded.recipe.version} on {target.name} in {region}")
    try:
        run_steps(list(steps) if steps is not None else bake_steps(), state, ctx)
    finally:
        journal.finish(state.outcome)
        entry = manifest_entry(state, recipe=loaded.recipe.name, version=loaded.recipe.version, target=target.name)
        write_manifest(manifest_path, json.loads(redactor(json.dumps(entry))))
        events.info(f"manifest: {manifest_path}")
        events.close()
    return BakeResult(state=state, manifest_path=manifest_path, log_path=log_path)
