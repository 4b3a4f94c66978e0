"""`invoke clean`: remove what killed bakes left, from their journals and from the build-id tags."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from goldsmith.aws import ec2 as ec2ops
from goldsmith.aws.reaper import Found, find_tagged, remove
from goldsmith.aws.session import Aws
from goldsmith.bake.journal import load_journal
from goldsmith.errors import InputError

KIND_OF_JOURNAL = {
    "instance": "instances",
    "image": "images",
    "snapshot": "snapshots",
    "volume": "volumes",
    "security-group": "security-groups",
    "key-pair": "key-pairs",
}


@dataclass
class CleanReport:
    found: list[Found] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(f.count() for f in self.found)


def running_builds(work_dir: Path) -> set[str]:
    """Builds whose bake process is still alive: their resources are in use, not leftovers."""
    return {j.build_id for j in map(load_journal, sorted((work_dir / "builds").glob("*.json"))) if j.still_running()}


def journal_resources(work_dir: Path, build_id: str | None) -> dict[str, Found]:
    """Resources the journals list as existing (the tags may be missing if a create was cut short)."""
    by_region: dict[str, Found] = {}
    for path in sorted((work_dir / "builds").glob("*.json")):
        journal = load_journal(path)
        if build_id and journal.build_id != build_id:
            continue
        if journal.still_running():
            continue
        for entry in journal.live():
            kind = KIND_OF_JOURNAL.get(entry.kind)
            resource_id = entry.id or (entry.name if entry.kind == "key-pair" else "")
            if kind and resource_id:
                found = by_region.setdefault(entry.region, Found(entry.region))
                found.resources.setdefault(kind, []).append((resource_id, journal.build_id))
    return by_region


def merge(a: Found, b: Found) -> Found:
    merged = Found(a.region)
    for kind in set(a.resources) | set(b.resources):
        seen: dict[str, str] = {}
        for resource_id, build in [*a.resources.get(kind, []), *b.resources.get(kind, [])]:
            seen.setdefault(resource_id, build)
        merged.resources[kind] = list(seen.items())
    return merged


def clean(
    aws: Aws,
    *,
    regions: Iterable[str],
    work_dir: Path,
    build_id: str | None,
    waits: ec2ops.Waits,
    dry_run: bool,
    report: Callable[[str], None],
) -> CleanReport:
    """Find (and unless dry_run, remove) the resources of one build, or of every Goldsmith build."""
    result = CleanReport()
    busy = running_builds(work_dir)
    if build_id and build_id in busy:
        raise InputError(f"build {build_id} is still running; stop it (Ctrl-C cleans up) before cleaning it")
    from_journal = journal_resources(work_dir, build_id)
    for region in sorted(set(regions) | set(from_journal)):
        ec2 = aws.ec2(region)
        found = find_tagged(ec2, region, build_id)
        for kind, items in found.resources.items():
            found.resources[kind] = [(rid, b) for rid, b in items if b not in busy]
        if region in from_journal:
            found = merge(found, from_journal[region])
        result.found.append(found)
        for kind, items in found.resources.items():
            for resource_id, build in items:
                report(f"{'would remove' if dry_run else 'found'} {kind[:-1]} {resource_id} ({region}, build {build})")
        if not dry_run:
            result.failures += remove(ec2, found, waits, report)
    if not dry_run:
        _close_journals(work_dir, build_id, result)
    return result


def _close_journals(work_dir: Path, build_id: str | None, result: CleanReport) -> None:
    """Mark cleaned builds' journals, so the next clean doesn't chase deleted ids."""
    if result.failures:
        return
    for path in sorted((work_dir / "builds").glob("*.json")):
        journal = load_journal(path)
        if build_id and journal.build_id != build_id:
            continue
        for entry in journal.entries:
            entry.status = "deleted"
        journal.finish(journal.status if journal.status != "running" else "cleaned")
