"""Validate the new AMI on an instance launched from it, before anything is shared or copied."""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.aws import ec2 as ec2ops
from goldsmith.aws.tags import VALIDATION_TAG
from goldsmith.bake.validation import (
    BUILD_PUBLIC_KEY_ENV,
    ROLE_ENV,
    Place,
    ValidationInstance,
    failure_message,
    plan_for,
    run_plan,
    tag_validation,
)
from goldsmith.errors import CleanupError, ValidationFailed

if TYPE_CHECKING:
    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.state import BuildState
    from goldsmith.validate import SuiteResult


class ValidateImage:
    name = "validate-image"

    def __init__(self) -> None:
        self._instance: ValidationInstance | None = None

    def run(self, state: BuildState, ctx: BakeContext) -> None:
        assert state.image_id is not None
        plan = plan_for(ctx.loaded, facts={**state.facts, "image_id": state.image_id},
                        extra_suites=ctx.options.extra_suites,
                        junit_path=ctx.options.work_dir / "reports" / f"{state.build_id}-image.xml")
        if not plan.suites or ctx.options.skip_validation:
            ctx.events.info("no validation suites: the image is not validated")
            return
        recipe = ctx.loaded.recipe
        ec2 = ctx.aws.ec2(state.region)
        assert state.vpc_id is not None
        self._instance = ValidationInstance(Place.of_bake(state, ctx), role="validate")
        image = state.image or ec2ops.describe_image(ec2, state.image_id)
        self._instance.launch(image, vpc_id=state.vpc_id,
                              instance_type=recipe.validate_.instance_type or recipe.build.instance_type)
        connection = self._instance.wait_for_ssh()
        extra_env = {ROLE_ENV: "image", "GOLDSMITH_IMAGE_ID": state.image_id}
        if state.private_key is not None:
            extra_env[BUILD_PUBLIC_KEY_ENV] = state.private_key.public_openssh()
        result = run_plan(connection, plan, ctx.events, extra_env)
        state.validation = {**state.validation, **result.record()}
        if result.ok or not ctx.options.keep_on_error:
            self._release(ctx)  # now, not at the end of the bake: the test instance is done
        self._judge(state, ctx, result)

    def _release(self, ctx: BakeContext) -> None:
        """Remove the validation instance early; if that fails, the step's cleanup tries again at the end
        (a slow network interface must not throw away an image that passed)."""
        try:
            self._destroy(ctx)
        except CleanupError as exc:
            ctx.events.warn(f"{exc} (will try again when the bake ends)")

    def _judge(self, state: BuildState, ctx: BakeContext, result: SuiteResult) -> None:
        assert state.image_id is not None
        snapshots = list(state.snapshots.values())
        if result.ok:
            tag_validation(ctx.aws, state.region, [state.image_id, *snapshots], "passed")
            if state.image:  # region copies take their tags from this description
                tags = [t for t in state.image.get("Tags", []) if t["Key"] != VALIDATION_TAG]
                state.image = {**state.image, "Tags": [*tags, {"Key": VALIDATION_TAG, "Value": "passed"}]}
            return
        message = failure_message(f"image {state.image_id}", result)
        if ctx.loaded.recipe.validate_.on_failure == "keep":
            tag_validation(ctx.aws, state.region, [state.image_id, *snapshots], "failed")
            state.keep_image = True
            message += " The image is kept (validate.on_failure: keep), tagged goldsmith:validation=failed."
        raise ValidationFailed(message)

    def _destroy(self, ctx: BakeContext) -> None:
        if self._instance is None:
            return
        problems = self._instance.destroy()
        if problems:
            raise CleanupError("could not remove the validation instance's resources, delete manually:\n  "
                               + "\n  ".join(problems))
        self._instance = None

    def cleanup(self, state: BuildState, ctx: BakeContext) -> None:
        if self._instance is None:
            return
        if ctx.options.keep_on_error and state.outcome == "failed" and self._instance.instance_id:
            ctx.events.warn(self._instance.keep(ctx.options.work_dir))
            return
        self._destroy(ctx)
