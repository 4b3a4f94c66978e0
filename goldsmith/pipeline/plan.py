"""`invoke pipeline --plan`: what a run would bake, reuse or skip, and why; nothing is changed.

The plan is made from the same record a run starts from (goldsmith.pipeline.run.new_record), so it
cannot say something the run would not do.
"""

from __future__ import annotations

from dataclasses import dataclass

from goldsmith.pipeline.record import RunRecord
from goldsmith.recipe.pipeline_loader import LoadedPipeline


@dataclass(frozen=True)
class PlanLine:
    name: str
    action: str  # bake | reuse | skip
    reason: str
    needs: tuple[str, ...]
    image_id: str = ""


def plan(loaded: LoadedPipeline, record: RunRecord, *, force: bool = False) -> list[PlanLine]:
    """One line per recipe, in the order the run would start them."""
    lines: list[PlanLine] = []
    action_of: dict[str, str] = {}
    for name, member in loaded.members.items():
        run = record.recipes[name]
        if run.status == "reused":
            line = PlanLine(name, "reuse", run.reason, member.needs, run.image_id)
        elif run.status == "skipped":
            line = PlanLine(name, "skip", run.reason, member.needs)
        else:
            rebaked = [n for n in member.needs if action_of.get(n) == "bake"]
            if force:
                reason = "--force"
            elif rebaked:
                reason = f"builds on {rebaked[0]}, which is baked in this run"
            else:
                reason = "no earlier image of it to reuse"
            line = PlanLine(name, "bake", reason, member.needs)
        action_of[name] = line.action
        lines.append(line)
    return lines


def plan_table(lines: list[PlanLine]) -> str:
    width = max(len(line.name) for line in lines)
    out = []
    for line in lines:
        after = f" (after {', '.join(line.needs)})" if line.needs and line.action == "bake" else ""
        image = f" {line.image_id}" if line.image_id else ""
        out.append(f"{line.name.ljust(width)}  {line.action.upper():5}{image}  {line.reason}{after}")
    return "\n".join(out)
