"""`invoke validate`: validate an existing AMI (given by id, or the newest image of a recipe) on its own.

Same lifecycle as the bake's validation step (goldsmith.bake.validation): a temporary key pair,
security group and instance, tagged with a build id of their own and journaled, so `invoke clean`
finds them if this process is killed; they are removed on success, failure, Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import secrets
import signal
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goldsmith.aws import ec2 as ec2ops
from goldsmith.aws.session import Aws
from goldsmith.aws.tags import BUILD_ID_TAG, RECIPE_TAG, VERSION_TAG
from goldsmith.bake.journal import Journal
from goldsmith.bake.runner import signals_held
from goldsmith.bake.sources import newest_image_of
from goldsmith.bake.target import Target
from goldsmith.bake.validation import ROLE_ENV, Place, SuitePlan, ValidationInstance, plan_for, run_plan, vpc_for
from goldsmith.errors import CleanupError, InputError, Interrupted
from goldsmith.recipe.loader import LoadedRecipe
from goldsmith.recipe.model import Build
from goldsmith.report.events import Display, Events
from goldsmith.report.redact import Redactor
from goldsmith.ssh.keys import PrivateKey
from goldsmith.validate import SuiteResult


@dataclass(frozen=True)
class Request:
    """What to validate and with what: an AMI id or a recipe, extra suites, variables for suites."""

    image_ref: str  # ami-... or a recipe's name (its newest image)
    loaded: LoadedRecipe | None
    suites: tuple[str, ...] = ()
    variables: tuple[tuple[str, str], ...] = ()  # --var name=value, when no recipe resolves them
    username: str | None = None
    instance_type: str | None = None


@dataclass(frozen=True)
class Outcome:
    image_id: str
    build_id: str
    result: SuiteResult
    log_path: Path


def validate_existing(request: Request, target: Target, *, work_dir: Path, display: Display | None) -> Outcome:
    """Launch, run the suites, destroy; raises Interrupted (cleaned up) on Ctrl-C/SIGTERM."""
    aws = Aws(target.aws_settings())
    region = aws.region
    loaded = request.loaded
    recipe_name = loaded.recipe.name if loaded else "validate"
    build_id = f"validate-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"
    build = _build_settings(request)
    log_path = work_dir / "logs" / f"{build_id}.jsonl"
    events = Events(log_path, display, Redactor(loaded.secrets if loaded else ()), build_id)
    journal = Journal(path=work_dir / "builds" / f"{build_id}.json", build_id=build_id, recipe=recipe_name,
                      target=target.name)
    tags = {BUILD_ID_TAG: build_id, RECIPE_TAG: recipe_name,
            VERSION_TAG: loaded.recipe.version if loaded else "0"}
    jump = build.bastion
    jump_key = (PrivateKey.from_file(loaded.resolve(jump.private_key_file))
                if loaded is not None and jump is not None and jump.private_key_file else None)
    place = Place(aws=aws, target=target, region=region, build=build, waits=target.waits(build),
                  journal=journal, events=events, tags=tags, build_id=build_id, bastion_key=jump_key)
    instance = ValidationInstance(place, role="validate")
    status = "failed"
    try:
        with _interruptible():
            image = find_image(aws.ec2(region), request)
            plan = _plan(request, image["ImageId"], build_id, region, work_dir)
            events.info(f"validating {image['ImageId']} ({image.get('Name', '')}) in {region}, check {build_id}")
            instance.launch(image, instance_type=request.instance_type or build.instance_type,
                            vpc_id=vpc_for(aws.ec2(region), build))
            connection = instance.wait_for_ssh()
            result = run_plan(connection, plan, events, {ROLE_ENV: "image", "GOLDSMITH_IMAGE_ID": image["ImageId"]})
        status = "succeeded"
    except KeyboardInterrupt as exc:
        status = "interrupted"
        raise Interrupted("Interrupted; the validation instance, key pair and security group were removed.") from exc
    finally:
        with signals_held():
            problems = instance.destroy()
        journal.finish(status if not problems else "failed")
        events.close()
        if problems:
            raise CleanupError("could not remove, delete manually:\n  " + "\n  ".join(problems))
    return Outcome(image_id=image["ImageId"], build_id=build_id, result=result, log_path=log_path)


@contextmanager
def _interruptible() -> Iterator[None]:
    """SIGTERM interrupts like Ctrl-C does, so the finally clause removes the instance either way."""
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _build_settings(request: Request) -> Build:
    """The recipe's build settings (network, SSH user) or the defaults; --user overrides the user."""
    build = request.loaded.recipe.build if request.loaded else Build()
    if request.username:
        build = build.model_copy(update={"ssh_username": request.username})
    return build


def find_image(ec2: Any, request: Request) -> dict[str, Any]:
    """The AMI by id, or the newest of this account's images named like the recipe's image.name."""
    if request.image_ref.startswith("ami-"):
        return ec2ops.describe_image(ec2, request.image_ref)
    assert request.loaded is not None
    return newest_image_of(ec2, request.loaded.recipe)


def _plan(request: Request, image_id: str, build_id: str, region: str, work_dir: Path) -> SuitePlan:
    junit = work_dir / "reports" / f"{build_id}.xml"
    if request.loaded is not None:
        facts = {"build_id": build_id, "recipe_name": request.loaded.recipe.name, "region": region,
                 "image_id": image_id}
        plan = plan_for(request.loaded, facts=facts, extra_suites=request.suites, junit_path=junit)
    else:
        plan = SuitePlan(suites=tuple(Path(s).resolve() for s in request.suites), env={"GOLDSMITH_REGION": region},
                         variables=dict(request.variables), secrets=frozenset(), timeout=1800.0, junit_path=junit)
    if not plan.suites:
        raise InputError("nothing to validate with: give --suite PATH (repeatable), or a recipe with validate.suites")
    return plan


def suite_args(suites: Sequence[str]) -> tuple[str, ...]:
    """--suite paths, checked to exist before anything is launched."""
    missing = [s for s in suites if not Path(s).exists()]
    if missing:
        raise InputError(f"--suite: no such file or directory: {', '.join(missing)}")
    return tuple(suites)
