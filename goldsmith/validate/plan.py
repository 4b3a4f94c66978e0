"""Planning a validation (which suites, with what environment) and running the plan against an instance.

When to validate is the bake's business (its validate-build and validate-image steps, and the
validate-image sequence of `invoke validate`); what to run and how lives here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from goldsmith.engine.cancel import NEVER, CancelToken
from goldsmith.errors import ValidationFailed
from goldsmith.validate.suites import Connection, Jump, SuiteResult, run_suites

if TYPE_CHECKING:
    from goldsmith.recipe.loader import LoadedRecipe
    from goldsmith.report.events import Events
    from goldsmith.ssh.endpoint import SshTarget


@dataclass(frozen=True)
class SuitePlan:
    """What to run: suite files, their environment and variables, limits, and where the report goes."""

    suites: tuple[Path, ...]
    env: dict[str, str]
    variables: dict[str, str]
    secrets: frozenset[str]
    timeout: float
    junit_path: Path
    source: str = "validate"  # label of the suites' output lines


def suites_of(loaded: LoadedRecipe, extra_suites: Sequence[str]) -> tuple[Path, ...]:
    """The recipe's suites plus any given on the command line (empty: nothing validates)."""
    return (tuple(loaded.resolve(s) for s in loaded.recipe.validate_.suites)
            + tuple(Path(s).resolve() for s in extra_suites))


def plan_for(loaded: LoadedRecipe, *, facts: dict[str, str], extra_suites: Sequence[str], junit_path: Path,
             source: str = "validate") -> SuitePlan:
    """The recipe's suites (plus any given on the command line), env rendered with the build's facts."""
    validate = loaded.recipe.validate_
    env = {name: loaded.render(value, **facts) for name, value in validate.env.items()}
    env.update({f"GOLDSMITH_{name.upper()}": facts[name] for name in ("build_id", "recipe_name", "region")
                if facts.get(name)})
    return SuitePlan(suites=suites_of(loaded, extra_suites), env=env, variables=dict(loaded.variables),
                     secrets=loaded.secrets, timeout=float(validate.timeout), junit_path=junit_path, source=source)


def jump_of(bastion: SshTarget | None, seen_host_key: str | None) -> Jump | None:
    """The suites' view of a bastion, pinned by the recipe's key or else by the key just seen."""
    if bastion is None:
        return None
    return Jump(host=bastion.host, port=bastion.port, user=bastion.username, key=bastion.key,
                host_key=bastion.known_host_key or seen_host_key)


def run_plan(connection: Connection, plan: SuitePlan, events: Events, extra_env: dict[str, str],
             cancel: CancelToken = NEVER) -> SuiteResult:
    """Run the plan's suites, streaming their output into the run's events, and log the summary."""
    events.info(f"running {len(plan.suites)} suite(s) against {connection.user}@{connection.host}:{connection.port}")
    result = run_suites(
        plan.suites, connection=connection, env={**plan.env, **extra_env}, variables=plan.variables,
        junit_path=plan.junit_path, timeout=plan.timeout, secrets=plan.secrets,
        on_output=lambda line: events.output(plan.source, line), cancel=cancel,
    )
    events.info(f"validation: {result.summary_line()} (report {result.junit_path})",
                passed=result.passed, failed=result.failed, errors=result.errors, junit=str(result.junit_path))
    for failure in result.failures:
        events.warn(f"FAILED {failure.test}: {failure.message}")
    return result


def failure_message(what: str, result: SuiteResult) -> str:
    shown = "; ".join(f"{f.test}: {f.message}" for f in result.failures[:5])
    more = f" (and {len(result.failures) - 5} more)" if len(result.failures) > 5 else ""
    return f"{what} failed validation ({result.summary_line()}): {shown}{more}. Report: {result.junit_path}"


def raise_if_failed(what: str, result: SuiteResult) -> None:
    if not result.ok:
        raise ValidationFailed(failure_message(what, result))
