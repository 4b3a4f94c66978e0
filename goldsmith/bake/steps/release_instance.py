"""Let a role's instance go as soon as it has served (the validation instance right after its suites),
instead of when the whole run ends: TerminateInstances is sent and its key pair deleted, without waiting
for the instance to shut down. The run goes on (copies, sharing) while it does; the cleanups at the end
wait for it to be gone and then delete its security group (which cannot go before).

If a removal fails (an API error), it only warns: the cleanups of the steps that created those resources
try again when the run ends, so a slow shutdown never fails a passed image.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.bake.machines import InstanceSpec, remove_key_pair, start_removing_instance
from goldsmith.errors import GoldsmithError

if TYPE_CHECKING:
    from goldsmith.bake.context import MachineContext
    from goldsmith.bake.state import BuildState


class ReleaseInstance:
    def __init__(self, spec: InstanceSpec) -> None:
        self.spec = spec
        self.name = spec.step_name("release-instance")

    def run(self, state: BuildState, ctx: MachineContext) -> None:
        problems: list[str] = []
        try:
            start_removing_instance(state, self.spec.role, ctx)
        except GoldsmithError as exc:
            problems.append(str(exc))
        try:
            remove_key_pair(state, self.spec, ctx)
        except GoldsmithError as exc:
            problems.append(str(exc))
        if problems:
            ctx.events.warn(f"could not remove the {self.spec.role} instance's resources yet: "
                            f"{'; '.join(problems)} (will try again when the run ends)")

    def cleanup(self, state: BuildState, ctx: MachineContext) -> None:
        return None  # the creating steps' cleanups remove whatever is still there
