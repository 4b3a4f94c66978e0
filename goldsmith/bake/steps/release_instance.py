"""Remove a role's instance, key pair and security group as soon as it has served (the validation
instance right after its suites), instead of when the whole run ends.

If a removal fails (an interface still detaching), it only warns: the cleanups of the steps that
created those resources try again when the run ends, so a slow detach never fails a passed image.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.bake.machines import InstanceSpec, remove_instance, remove_key_pair, remove_security_group
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
        for remove in (remove_instance, remove_key_pair, remove_security_group):
            try:
                remove(state, self.spec, ctx)
            except GoldsmithError as exc:
                problems.append(str(exc))
        if problems:
            ctx.events.warn(f"could not remove the {self.spec.role} instance's resources yet: "
                            f"{'; '.join(problems)} (will try again when the run ends)")

    def cleanup(self, state: BuildState, ctx: MachineContext) -> None:
        return None  # the creating steps' cleanups remove whatever is still there
