"""Run the suites against an instance launched from the image (by the instance steps in the validation
role), before anything is shared or copied. A failure fails the run; in a bake the image and its
snapshots are tagged goldsmith:validation=passed|failed (kept with validate.on_failure: keep)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from goldsmith.aws.images import tag_validation
from goldsmith.aws.tags import VALIDATION_TAG
from goldsmith.bake.machines import InstanceSpec, suite_connection
from goldsmith.errors import ValidationFailed
from goldsmith.validate.channel import BUILD_PUBLIC_KEY_ENV, ROLE_ENV
from goldsmith.validate.plan import SuitePlan, failure_message, run_plan

if TYPE_CHECKING:
    from goldsmith.bake.context import MachineContext
    from goldsmith.bake.state import BuildState
    from goldsmith.validate.suites import SuiteResult


class ValidateImage:
    name = "validate-image"

    def __init__(self, spec: InstanceSpec, plan: Callable[[BuildState], SuitePlan], *, record: bool = True,
                 on_failure: Literal["deregister", "keep"] = "deregister") -> None:
        self.spec = spec
        self.plan = plan  # made when the step runs: the suites' env is rendered with the image id
        self.record = record  # tag the image with the result (a bake), or only report it (`invoke validate`)
        self.on_failure = on_failure

    def run(self, state: BuildState, ctx: MachineContext) -> None:
        image_id = state.image["ImageId"]
        connection = suite_connection(state.instances[self.spec.role], self.spec)
        extra_env = {ROLE_ENV: "image", "GOLDSMITH_IMAGE_ID": image_id}
        if state.build.private_key is not None:
            extra_env[BUILD_PUBLIC_KEY_ENV] = state.build.private_key.public_openssh()
        result = run_plan(connection, self.plan(state), ctx.events, extra_env, cancel=ctx.cancel)
        state.validation = {**state.validation, **result.record()}
        state.image_result = result
        if self.record:
            self._record(state, ctx, result)
        if not result.ok:
            message = failure_message(f"image {image_id}", result)
            if self.record and state.keep_image:
                message += " The image is kept (validate.on_failure: keep), tagged goldsmith:validation=failed."
            raise ValidationFailed(message)

    def _record(self, state: BuildState, ctx: MachineContext, result: SuiteResult) -> None:
        assert state.image_id is not None
        resources = [state.image_id, *state.snapshots.values()]
        if result.ok:
            tag_validation(ctx.aws.ec2(state.region), resources, "passed")
            # Region copies take their tags from this description.
            tags = [t for t in state.image.get("Tags", []) if t["Key"] != VALIDATION_TAG]
            state.image = {**state.image, "Tags": [*tags, {"Key": VALIDATION_TAG, "Value": "passed"}]}
        elif self.on_failure == "keep":
            tag_validation(ctx.aws.ec2(state.region), resources, "failed")
            state.keep_image = True

    def cleanup(self, state: BuildState, ctx: MachineContext) -> None:
        return None
