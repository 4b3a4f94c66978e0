"""Record what is inside the image, right before the build instance is stopped: /etc/os-release, the
package inventory (dpkg or rpm) and the kernel, read over SSH by one read-only command
(goldsmith.images.contents). Writes WORK_DIR/contents/BUILD_ID.json and the CycloneDX SBOM
WORK_DIR/sbom/BUILD_ID.cdx.json; the manifest entry gets their summary (state.contents).

Nothing is created on AWS or on the instance, so there is nothing to clean up; the local files stay, as a
bake's log and JUnit reports do, and a failed bake's manifest entry still points at them. The command
stops when the run is cancelled (the SSH session checks the token while it waits).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from goldsmith.bake.machines import InstanceSpec, connect_instance
from goldsmith.errors import BakeError
from goldsmith.images.contents import COLLECT_SCRIPT, parse_collected, write_contents

if TYPE_CHECKING:
    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.state import BuildState

TIMEOUT = 300.0  # rpm -qa on a large image takes seconds; a hung command must not hold the bake forever


class RecordContents:
    name = "record-contents"

    def __init__(self, spec: InstanceSpec) -> None:
        self.spec = spec  # to reconnect when the provisioners' session is gone (a last reboot, a drop)

    def run(self, state: BuildState, ctx: BakeContext) -> None:
        machine = state.build
        if machine.ssh is None or not machine.ssh.active:
            if machine.ssh is not None:
                machine.ssh.close()
            machine.ssh = connect_instance(machine, self.spec, ctx)
        lines: list[str] = []
        result = machine.ssh.run(COLLECT_SCRIPT, timeout=TIMEOUT, on_output=lines.append)
        recorded_at = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        try:
            if not result.ok:
                raise ValueError(f"exit status {result.exit_status}")
            contents = parse_collected(lines, build_id=state.build_id, recipe=ctx.loaded.recipe.name,
                                       version=ctx.loaded.recipe.version, recorded_at=recorded_at,
                                       source_ami=state.facts.get("source_ami", ""))
        except ValueError as exc:
            raise BakeError(f"could not read the image's package inventory: {exc}\n{result.output_tail}") from exc
        path, sbom = write_contents(ctx.options.work_dir, contents)
        state.contents = contents.summary(path, sbom)
        if contents.manager == "none":
            ctx.events.warn("no dpkg or rpm on the image: its contents list no packages")
        ctx.events.info(f"contents: {contents.os_name or 'unknown OS'}, kernel {contents.kernel}, "
                        f"{len(contents.packages)} packages ({contents.manager}); SBOM {sbom}")

    def cleanup(self, state: BuildState, ctx: BakeContext) -> None:
        return None
