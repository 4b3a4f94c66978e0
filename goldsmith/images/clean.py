"""`invoke clean`: remove what killed or failed bakes left, never the product of a successful build.

Every resource a bake creates carries the tag goldsmith:build-id, and so do the AMIs and snapshots a
successful bake produces (provenance). So the tag alone cannot say what is a leftover; the rule is:

- instances, volumes, key pairs and security groups tagged with a build id are always temporary:
  they are removed (unless that build's bake process is still running);
- images and snapshots are removed only for builds known not to have succeeded: a local journal
  (work dir builds/<id>.json) whose status is not "succeeded" ("failed", "interrupted", or "running"
  with a dead pid, i.e. killed). A succeeded journal contributes nothing;
- images (and snapshots) tagged goldsmith:validation=failed were kept on purpose
  (validate.on_failure: keep): they go only when their build id is named with --build-id;
- images and snapshots of builds with no local journal (baked on another machine) are listed as
  kept, and removed only with `images=True` (`--images`).

The reaper (`older_than`, `invoke clean --older-than HOURS`) also takes builds with no local journal: one whose
newest resource (or, failing any creation time, the time in its build id) is older than the threshold is not
running, so its temporary resources go, and so do its snapshots that belong to no image of that build (a
succeeded build always has its image); a younger one may be a bake running elsewhere and is left alone.
A resource a not-succeeded journal lists is that build's, whatever its tag says (a copy carries its
source's build id); the snapshots of an image that goes go with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from goldsmith.aws import ec2 as ec2ops
from goldsmith.aws.reaper import KINDS, Found, find_tagged, remove
from goldsmith.aws.session import Aws
from goldsmith.aws.tags import VALIDATION_TAG, tags_dict
from goldsmith.engine.journal import Journal, load_journal
from goldsmith.errors import InputError

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import ImageTypeDef

KIND_OF_JOURNAL = {
    "instance": "instances",
    "image": "images",
    "snapshot": "snapshots",
    "volume": "volumes",
    "security-group": "security-groups",
    "key-pair": "key-pairs",
}
TEMPORARY = ("instances", "volumes", "security-groups", "key-pairs")


@dataclass
class CleanReport:
    found: list[Found] = field(default_factory=list)  # what is (or would be) removed
    failures: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # why some images/snapshots were left alone

    @property
    def count(self) -> int:
        return sum(f.count() for f in self.found)


@dataclass
class Policy:
    """Which builds' images and snapshots may go (see the module docstring)."""

    journals: dict[str, Journal]
    busy: set[str]
    build_id: str | None = None  # named with --build-id
    images: bool = False  # --images: also builds with no local journal
    older_than: timedelta | None = None  # the reaper: builds with no journal older than this are not running

    def failed(self, build: str) -> bool:
        journal = self.journals.get(build)
        return journal is not None and build not in self.busy and journal.status != "succeeded"

    def keep_reason(self, build: str, tags: dict[str, str], orphan: bool = False) -> str:
        """Why an image/snapshot of `build` stays ('' if it may go); `orphan`: a snapshot of no image."""
        journal = self.journals.get(build)
        if journal is None:
            if self.images or (orphan and self.older_than is not None):
                return ""
            return f"no journal says build {build} failed; pass --images to remove them too"
        if journal.status == "succeeded":
            return f"build {build} succeeded: its images are its product, not leftovers"
        if tags.get(VALIDATION_TAG) == "failed" and build != self.build_id:
            return (f"build {build} failed validation and kept its image on purpose (validate.on_failure: keep); "
                    f"`invoke clean --build-id {build} --yes` removes it")
        return ""


def load_journals(work_dir: Path) -> dict[str, Journal]:
    journals = {}
    for path in sorted((work_dir / "builds").glob("*.json")):
        journal = load_journal(path)
        journals[journal.build_id] = journal
    return journals


def running_builds(work_dir: Path) -> set[str]:
    """Builds whose bake process is still alive: their resources are in use, not leftovers."""
    return {j.build_id for j in load_journals(work_dir).values() if j.still_running()}


def journal_resources(policy: Policy) -> dict[str, Found]:
    """What not-succeeded journals list as existing (the tags may be missing if a create was cut short)."""
    by_region: dict[str, Found] = {}
    for journal in policy.journals.values():
        if (policy.build_id and journal.build_id != policy.build_id) or not policy.failed(journal.build_id):
            continue
        for entry in journal.live():
            kind = KIND_OF_JOURNAL.get(entry.kind)
            if not kind:
                continue
            # An intent without an id (killed between the request and its answer, e.g. a CopyImage to another
            # region) still names a region where a resource may exist: that region is searched by tag.
            found = by_region.setdefault(entry.region, Found(entry.region))
            resource_id = entry.id or (entry.name if entry.kind == "key-pair" else "")
            if resource_id:
                found.resources.setdefault(kind, []).append((resource_id, journal.build_id))
    return by_region


def merge(first: Found, second: Found) -> Found:
    """Both, once each; `first` says whose a resource is when both list it."""
    merged = Found(first.region, tags={**second.tags, **first.tags},
                   image_snapshots={**second.image_snapshots, **first.image_snapshots},
                   newest={b: max(first.newest.get(b, ""), second.newest.get(b, ""))
                           for b in {*first.newest, *second.newest}})
    for kind in KINDS:
        seen: dict[str, str] = {}
        for resource_id, build in [*first.resources.get(kind, []), *second.resources.get(kind, [])]:
            seen.setdefault(resource_id, build)
        merged.resources[kind] = list(seen.items())
    return merged


def select(ec2: EC2Client, candidates: Found, policy: Policy) -> tuple[Found, dict[tuple[str, str], list[str]]]:
    """What may go, and what stays: (build, reason) -> ["image ami-...", "snapshot snap-..."]."""
    chosen = Found(candidates.region)
    kept: dict[tuple[str, str], list[str]] = {}
    for kind in TEMPORARY:
        chosen.resources[kind] = [(r, b) for r, b in candidates.resources.get(kind, []) if b not in policy.busy]
    untagged = [i for i, _ in candidates.resources.get("images", []) if i not in candidates.tags]
    for image_id, image in _existing_images(ec2, untagged).items():  # listed by a journal only
        candidates.tags[image_id] = tags_dict(image.get("Tags"))
        candidates.image_snapshots[image_id] = list(ec2ops.snapshots_by_device(image).values())
    snapshot_owner: dict[str, tuple[str, str]] = {}  # snapshot -> (build, reason) of its image
    chosen.resources["images"] = []
    for image_id, build in candidates.resources.get("images", []):
        if build in policy.busy:
            continue
        reason = policy.keep_reason(build, candidates.tags.get(image_id, {}))
        for snapshot_id in candidates.image_snapshots.get(image_id, []):
            snapshot_owner[snapshot_id] = (build, reason)
        if reason:
            kept.setdefault((build, reason), []).append(f"image {image_id}")
        else:
            chosen.resources["images"].append((image_id, build))
    snapshots = dict(candidates.resources.get("snapshots", []))
    snapshots.update({s: b for s, (b, _) in snapshot_owner.items() if s not in snapshots})
    with_images = {b for _, b in candidates.resources.get("images", [])}
    chosen.resources["snapshots"] = []
    for snapshot_id, build in snapshots.items():
        if build in policy.busy:
            continue
        owner_build, reason = snapshot_owner.get(snapshot_id) or (
            build, policy.keep_reason(build, candidates.tags.get(snapshot_id, {}), orphan=build not in with_images))
        if reason:
            kept.setdefault((owner_build, reason), []).append(f"snapshot {snapshot_id}")
        else:
            chosen.resources["snapshots"].append((snapshot_id, owner_build))
    return chosen, kept


BUILD_TIME = re.compile(r"-(\d{8})-(\d{6})-[0-9a-f]{4}$")  # new_build_id: <prefix>-YYYYMMDD-HHMMSS-xxxx


def build_started(build_id: str) -> str:
    """When the build began, from its id ('' if the id does not say)."""
    found = BUILD_TIME.search(build_id)
    if not found:
        return ""
    try:
        when = datetime.strptime(found.group(1) + found.group(2), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return ""
    return when.isoformat()


def young_builds(candidates: Found, policy: Policy, now: datetime) -> set[str]:
    """Builds with no local journal that may still be running elsewhere: newer than the reaper's threshold (a
    build whose age cannot be told at all counts as young)."""
    assert policy.older_than is not None
    builds = {b for items in candidates.resources.values() for _, b in items if b and b not in policy.journals}
    young = set()
    for build in builds:
        newest = max(candidates.newest.get(build, ""), build_started(build))
        try:
            when = datetime.fromisoformat(newest)
        except ValueError:
            young.add(build)
            continue
        if now - (when if when.tzinfo else when.replace(tzinfo=UTC)) < policy.older_than:
            young.add(build)
    return young


def clean(
    aws: Aws,
    *,
    regions: Iterable[str],
    work_dir: Path,
    build_id: str | None,
    waits: ec2ops.Waits,
    dry_run: bool,
    report: Callable[[str], None],
    images: bool = False,
    older_than: timedelta | None = None,
) -> CleanReport:
    """Find (and unless dry_run, remove) what one build, or every not-succeeded build, left; with `older_than`
    (the reaper), also what builds with no local journal left, once they are older than that."""
    result = CleanReport()
    journals = load_journals(work_dir)
    policy = Policy(journals, {j.build_id for j in journals.values() if j.still_running()}, build_id, images,
                    older_than)
    if build_id and build_id in policy.busy:
        raise InputError(f"build {build_id} is still running; stop it (Ctrl-C cleans up) before cleaning it")
    from_journal = journal_resources(policy)
    removed: set[tuple[str, str]] = set()
    for region in sorted(set(regions) | set(from_journal)):
        ec2 = aws.ec2(region)
        candidates = merge(from_journal.get(region, Found(region)), find_tagged(ec2, region, build_id))
        region_policy = policy
        if older_than is not None:
            young = young_builds(candidates, policy, datetime.now(UTC))
            for build in sorted(young):
                line = (f"kept: build {build} has no journal here and is younger than {_hours(older_than)} h "
                        f"({region}): it may be running elsewhere")
                result.kept.append(line)
                report(line)
            region_policy = replace(policy, busy=policy.busy | young)
        found, kept = select(ec2, candidates, region_policy)
        result.found.append(found)
        _report_kept(region, kept, policy, result, report)
        for kind in KINDS:
            for resource_id, build in found.resources.get(kind, []):
                report(f"{'would remove' if dry_run else 'found'} {kind[:-1]} {resource_id} ({region}, build {build})")
        if not dry_run:
            result.failures += remove(ec2, found, waits, report, lambda kind, rid: removed.add((kind, rid)))
    if not dry_run:
        _close_journals(policy, removed)
    return result


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:g}"


def _report_kept(region: str, kept: dict[tuple[str, str], list[str]], policy: Policy, result: CleanReport,
                 report: Callable[[str], None]) -> None:
    succeeded = 0
    for (build, reason), what in sorted(kept.items()):
        if policy.build_id is None and build in policy.journals and policy.journals[build].status == "succeeded":
            succeeded += len(what)  # the products of good builds: not worth a line each under --all
            continue
        line = f"kept: {reason} ({region}: {', '.join(what)})"
        result.kept.append(line)
        report(line)
    if succeeded:
        line = f"kept: {succeeded} images/snapshots of succeeded builds in {region} (their products)"
        result.kept.append(line)
        report(line)


def _close_journals(policy: Policy, removed: set[tuple[str, str]]) -> None:
    """Mark what was removed in not-succeeded journals, so the next clean doesn't chase deleted ids.

    A succeeded build's journal is never touched: its AMI entries still exist. Entries of resources
    kept on purpose (validation failed, or not removed) stay live.
    """
    for journal in policy.journals.values():
        if (policy.build_id and journal.build_id != policy.build_id) or not policy.failed(journal.build_id):
            continue
        for entry in journal.entries:
            kind = KIND_OF_JOURNAL.get(entry.kind, "")
            resource_id = entry.id or (entry.name if entry.kind == "key-pair" else "")
            if not resource_id or (kind, resource_id) in removed:
                entry.status = "deleted"
        journal.finish(journal.status if journal.status != "running" else "cleaned")


def _existing_images(ec2: EC2Client, image_ids: Iterable[str]) -> dict[str, ImageTypeDef]:
    """The images that still exist among `image_ids` (one call each: one missing id fails a batch)."""
    found = {image_id: ec2ops.find_image(ec2, image_id) for image_id in image_ids}
    return {image_id: image for image_id, image in found.items() if image is not None}
