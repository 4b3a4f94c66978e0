"""`invoke pipeline --plan`: what a run would bake, reuse or skip, and why; nothing in AWS is changed.

The plan starts from the same record a run starts from (goldsmith.pipeline.run.new_record), and asks the
build cache the questions the bakes would ask, in waves down the dependency graph: a recipe's fingerprint
needs its source AMI id, which for a recipe built on another is that recipe's reused image. So the cost
is one batched DescribeImages per wave (plus one per other region with hits, and one per distinct source
filter), however many recipes a wave holds: constant in the number of recipes, linear in the graph's depth.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from goldsmith.bake.sources import source_image
from goldsmith.images.cache import lookup, recipe_fingerprint
from goldsmith.pipeline.record import RunRecord
from goldsmith.recipe.pipeline_loader import LoadedPipeline, Member

if TYPE_CHECKING:
    from goldsmith.aws.session import Aws


@dataclass(frozen=True)
class PlanLine:
    name: str
    action: str  # bake | reuse | skip
    reason: str
    needs: tuple[str, ...]
    image_id: str = ""


@dataclass(frozen=True)
class CacheAccess:
    """How the plan reaches the build cache: AWS clients and the work dir (for the cache key)."""

    aws: Aws
    work_dir: Path


def plan(loaded: LoadedPipeline, record: RunRecord, *, force: bool = False,
         cache: CacheAccess | None = None) -> list[PlanLine]:
    """One line per recipe, in the order the run would start them. Without `cache` (the cache is off),
    every selected recipe that the record does not reuse is baked."""
    decided: dict[str, PlanLine] = {}
    sources: dict[str, str] = {}  # a source spec (JSON) -> its AMI id, resolved once
    remaining = list(loaded.members)
    while remaining:
        wave = [n for n in remaining if all(d in decided for d in loaded.members[n].needs)]
        asks: dict[str, str] = {}  # recipe -> fingerprint to look up
        for name in wave:
            line = _without_cache(loaded.members[name], record, decided, force, cache is not None)
            if line is not None:
                decided[name] = line
            else:
                assert cache is not None
                member = loaded.members[name]
                source = decided[member.source].image_id if member.source else _source_id(cache, member, sources)
                asks[name] = recipe_fingerprint(member.loaded, source, cache.work_dir)
        if asks:
            assert cache is not None
            needed = {fp: loaded.members[name].loaded.recipe.image.regions for name, fp in asks.items()}
            found = lookup(cache.aws, cache.aws.region, asks.values(), needed)
            for name, fp in asks.items():
                hit = found.hits.get(fp)
                needs = loaded.members[name].needs
                decided[name] = (PlanLine(name, "reuse", f"same inputs as build {hit.build_id}", needs, hit.image_id)
                                 if hit else PlanLine(name, "bake", found.why_not(fp), needs))
        remaining = [n for n in remaining if n not in decided]
    return [decided[name] for name in loaded.members]


def _without_cache(member: Member, record: RunRecord, decided: dict[str, PlanLine], force: bool,
                   cache_on: bool) -> PlanLine | None:
    """The line when the record, --force or an upstream rebake decides it; None when the cache must."""
    run = record.recipes[member.name]
    if run.status == "reused":
        return PlanLine(member.name, "reuse", run.reason, member.needs, run.image_id)
    if run.status == "skipped":
        return PlanLine(member.name, "skip", run.reason, member.needs)
    rebaked = [n for n in member.needs if decided[n].action == "bake"]
    if force:
        return PlanLine(member.name, "bake", "--force", member.needs)
    if rebaked:
        return PlanLine(member.name, "bake", f"builds on {rebaked[0]}, which is baked in this run", member.needs)
    if not cache_on:
        return PlanLine(member.name, "bake", "the build cache is off", member.needs)
    return None


def _source_id(cache: CacheAccess, member: Member, sources: dict[str, str]) -> str:
    """The AMI the recipe's own source resolves to now (one lookup per distinct source)."""
    key = json.dumps([str(member.loaded.root), member.loaded.recipe.source.model_dump(mode="json")], sort_keys=True)
    if key not in sources:
        image = source_image(cache.aws.ec2(), member.loaded)
        sources[key] = image["ImageId"]
    return sources[key]


def plan_table(lines: list[PlanLine]) -> str:
    width = max(len(line.name) for line in lines)
    out = []
    for line in lines:
        after = f" (after {', '.join(line.needs)})" if line.needs and line.action == "bake" else ""
        image = f" {line.image_id}" if line.image_id else ""
        out.append(f"{line.name.ljust(width)}  {line.action.upper():5}{image}  {line.reason}{after}")
    return "\n".join(out)
