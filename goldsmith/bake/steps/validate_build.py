"""validate.on_build: run the suites against the build instance before it is stopped, to fail fast."""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.bake.access import bastion_key, bastion_target
from goldsmith.bake.validation import ROLE_ENV, jump_of, plan_for, raise_if_failed, run_plan
from goldsmith.validate import Connection

if TYPE_CHECKING:
    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.state import BuildState


class ValidateBuild:
    name = "validate-build"

    def run(self, state: BuildState, ctx: BakeContext) -> None:
        recipe = ctx.loaded.recipe
        plan = plan_for(ctx.loaded, facts=dict(state.facts), extra_suites=ctx.options.extra_suites,
                        junit_path=ctx.options.work_dir / "reports" / f"{state.build_id}-build.xml",
                        source="validate-build")
        if not recipe.validate_.on_build or not plan.suites or ctx.options.skip_validation:
            return
        assert state.endpoint is not None and state.private_key is not None
        host, port = state.endpoint
        seen = state.ssh.bastion_host_key if state.ssh is not None else None
        bastion = jump_of(bastion_target(recipe.build, bastion_key(ctx), state.private_key), seen)
        connection = Connection(host=host, port=port, user=recipe.build.ssh_username, key=state.private_key,
                                host_key=state.host_key, bastion=bastion)
        result = run_plan(connection, plan, ctx.events, {ROLE_ENV: "build"})
        state.validation = {**state.validation, "build": result.record()}
        raise_if_failed("the build instance (validate.on_build)", result)

    def cleanup(self, state: BuildState, ctx: BakeContext) -> None:
        return None
