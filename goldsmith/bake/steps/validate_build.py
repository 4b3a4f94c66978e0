"""validate.on_build: run the suites against the build instance before it is stopped, to fail fast."""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.bake.machines import InstanceSpec, suite_connection
from goldsmith.validate.channel import ROLE_ENV
from goldsmith.validate.plan import plan_for, raise_if_failed, run_plan

if TYPE_CHECKING:
    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.state import BuildState


class ValidateBuild:
    """In the sequence only when the recipe asks (validate.on_build) and has suites."""

    name = "validate-build"

    def __init__(self, spec: InstanceSpec) -> None:
        self.spec = spec

    def run(self, state: BuildState, ctx: BakeContext) -> None:
        plan = plan_for(ctx.loaded, facts=dict(state.facts), extra_suites=ctx.options.extra_suites,
                        junit_path=ctx.options.work_dir / "reports" / f"{state.build_id}-build.xml",
                        source="validate-build")
        connection = suite_connection(state.build, self.spec)
        result = run_plan(connection, plan, ctx.events, {ROLE_ENV: "build"}, cancel=ctx.cancel)
        state.validation = {**state.validation, "build": result.record()}
        raise_if_failed("the build instance (validate.on_build)", result)

    def cleanup(self, state: BuildState, ctx: BakeContext) -> None:
        return None
