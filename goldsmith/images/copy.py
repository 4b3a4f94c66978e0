"""Copy an AMI to several regions in parallel, all or nothing, and cancellable.

One worker thread per region (boto3 clients are thread-safe and Aws keeps one per region). The calling
thread only waits on the futures, in short slices, so Ctrl-C (or the caller's cancel token) reaches it at
once; it then cancels the copier's token, every worker stops within one poll, and `remove_all`
deregisters every copy that was started (the id is recorded the moment CopyImage answers, before any
wait) and deletes its snapshots. The bake's CopyRegions step and `invoke copy` both use this class,
for the copies and for their removal.
"""

from __future__ import annotations

import concurrent.futures as cf
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from goldsmith.aws import ec2 as ec2ops
from goldsmith.aws import images, kms, sharing
from goldsmith.aws.polling import Poll
from goldsmith.aws.tags import tags_dict
from goldsmith.aws.wait_log import WaitLog
from goldsmith.engine.cancel import NEVER, Cancelled, CancelToken
from goldsmith.engine.journal import Entry, Journal
from goldsmith.engine.signals import Terminated, signals_held, signals_raise
from goldsmith.errors import InputError, Interrupted

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import CreateVolumePermissionTypeDef, ImageTypeDef, LaunchPermissionTypeDef

    from goldsmith.aws.session import Aws


@dataclass(frozen=True)
class CopyRequest:
    """One region's copy: the same name, description and tags, that region's KMS key (None: as source)."""

    region: str
    name: str
    description: str
    tags: Mapping[str, str]
    kms_key: str | None = None


@dataclass
class RegionCopy:
    region: str
    image_id: str
    snapshots: dict[str, str] = field(default_factory=dict)  # device -> snapshot id
    available: bool = False


@dataclass
class CopyHooks:
    """Callbacks for the caller's journal and log (called from worker threads)."""

    before_copy: Callable[[CopyRequest], object] = lambda request: None
    copied: Callable[[CopyRequest, str, object], None] = lambda request, image_id, token: None
    finished: Callable[[RegionCopy], None] = lambda copy: None


class RegionCopier:
    """Copies `source_image_id` from `source_region` to every requested region at once."""

    def __init__(self, aws: Aws, *, source_region: str, source_image_id: str, requests: Sequence[CopyRequest],
                 timeout: float, delay: float, token: str, hooks: CopyHooks | None = None,
                 cancel: CancelToken = NEVER, poll: Poll | None = None, log: WaitLog | None = None) -> None:
        self.aws = aws
        self.source_region = source_region
        self.source_image_id = source_image_id
        self.requests = list(requests)
        self.timeout = timeout
        self.delay = delay
        self.poll = poll  # the copy waits' schedule (None: every `delay`)
        self.log = log
        self.token = token
        self.hooks = hooks or CopyHooks()
        self.copies: dict[str, RegionCopy] = {}
        self.parent = cancel
        self.cancel = cancel.child()  # cancelled with the caller's run, or alone when a sibling copy fails
        self._lock = threading.Lock()
        self._pool: cf.ThreadPoolExecutor | None = None
        self._futures: list[cf.Future[RegionCopy]] = []

    def run(self) -> dict[str, RegionCopy]:
        """Copy to every region; the first failure cancels the others and is raised (nothing removed yet)."""
        self.start()
        return self.wait()

    def start(self) -> None:
        """Start every region's copy in worker threads and return at once (`wait` collects them)."""
        if not self.requests or self._pool is not None:
            return
        self._pool = cf.ThreadPoolExecutor(max_workers=len(self.requests), thread_name_prefix="copy")
        try:
            # Submitting is inside the try: a worker can finish (and a Ctrl-C arrive) before the last submit.
            for request in self.requests:
                self._futures.append(self._pool.submit(self._copy_one, request))
        except BaseException:
            self.stop()
            raise

    def wait(self) -> dict[str, RegionCopy]:
        """Wait until every copy started is available; the first failure cancels the others and is raised
        (nothing removed yet). The calling thread waits in short slices, so Ctrl-C and its token reach it."""
        if self._pool is None:
            return {}
        try:
            pending: set[cf.Future[RegionCopy]] = set(self._futures)
            while pending:
                done, pending = cf.wait(pending, timeout=0.2, return_when=cf.FIRST_EXCEPTION)
                self.parent.check()
                for future in done:
                    future.result()  # raises the worker's error
        except BaseException:
            self.stop()
            raise
        self._pool.shutdown(wait=True)
        return dict(self.copies)

    def stop(self) -> None:
        """Cancel pending copies and tell running ones to stop waiting; does not block."""
        self.cancel.cancel("another region's copy failed, or the run was cancelled")
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def join(self) -> None:
        """Wait for the workers to return, so every copy they started is recorded (bounded by one call)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def remove_all(self, on_removed: Callable[[RegionCopy, list[str]], None] = lambda c, s: None) -> list[str]:
        """Stop, then deregister every copy started and delete its snapshots; returns what could not go."""
        self.stop()
        self.join()
        problems: list[str] = []
        for copy in list(self.copies.values()):
            try:
                deleted = images.remove_image(self.aws.ec2(copy.region), copy.image_id, list(copy.snapshots.values()))
                on_removed(copy, deleted)
                del self.copies[copy.region]
            except Exception as exc:
                problems.append(f"image {copy.image_id} in {copy.region} (and its snapshots): {exc}")
        return problems

    def _copy_one(self, request: CopyRequest) -> RegionCopy:
        self.cancel.check()
        ec2 = self.aws.ec2(request.region)
        token = self.hooks.before_copy(request)
        image_id = images.copy_image(
            ec2, source_image_id=self.source_image_id, source_region=self.source_region, name=request.name,
            description=request.description, kms_key=request.kms_key, tags=request.tags,
            client_token=f"{self.token}-{request.region}")
        copy = RegionCopy(request.region, image_id)
        with self._lock:
            self.copies[request.region] = copy
        self.hooks.copied(request, image_id, token)
        image = images.wait_available(ec2, image_id, timeout=self.timeout, delay=self.delay, cancel=self.cancel,
                                      poll=self.poll, log=self.log)
        copy.snapshots = ec2ops.snapshots_by_device(image)  # tagged by CopyImage's TagSpecifications
        copy.available = True
        self.hooks.finished(copy)
        return copy


def parse_kms_keys(values: Sequence[str], regions: Sequence[str]) -> dict[str, str]:
    """`--kms-key KEY` (the same id/alias in every region) or `--kms-key REGION=KEY` (repeatable)."""
    keys: dict[str, str] = {}
    for value in values:
        region, sep, key = value.partition("=")
        if not sep:
            keys.update({r: value for r in regions if r not in keys})
        elif region not in regions:
            raise InputError(f"--kms-key {value}: {region} is not one of the --region values ({', '.join(regions)})")
        else:
            keys[region] = key
    return keys


@dataclass
class CopyResult:
    copies: dict[str, RegionCopy] = field(default_factory=dict)
    existing: dict[str, str] = field(default_factory=dict)  # region -> image already there with that name
    copy_id: str = ""  # the journal's build id, for `invoke clean --build-id` after a kill


def new_copy_id() -> str:
    return f"copy-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"


def journal_hooks(journal: Journal) -> CopyHooks:
    """Journal every CopyImage: the intent before the call, the image id after, its snapshots once known."""

    def copied(request: CopyRequest, image_id: str, entry: object) -> None:
        assert isinstance(entry, Entry)
        journal.created(entry, image_id)

    def finished(copy: RegionCopy) -> None:
        if copy.snapshots:
            entry = journal.intent("snapshot", copy.region, f"snapshots of {copy.image_id}")
            journal.created_many(entry, {f"{copy.image_id}:{d}": s for d, s in copy.snapshots.items()})

    return CopyHooks(before_copy=lambda request: journal.intent("image", request.region, request.name),
                     copied=copied, finished=finished)


def copy_image_to_regions(aws: Aws, *, source_region: str, image_id: str, regions: Sequence[str],
                          kms_keys: Mapping[str, str], timeout: float, delay: float, work_dir: Path,
                          report: Callable[[str], None] = lambda line: None) -> CopyResult:
    """`invoke copy`: copy an existing AMI with its name, description, tags, permissions and deprecation
    (unless that time has passed: a warning, through ``report``, says the copies are not deprecated).

    Idempotent: a region that already holds an image of that name is left alone. All or nothing: if a
    copy or a permission fails (or Ctrl-C, or SIGTERM), every copy made by this call is removed, with
    signals held off meanwhile. Each CopyImage is journaled under work_dir/builds/copy-*.json, so
    `invoke clean --build-id copy-...` removes what a SIGKILLed copy left.
    """
    if not regions:
        raise InputError("copy: give at least one --region to copy to")
    if source_region in regions:
        raise InputError(f"copy: {image_id} is already in {source_region}; --region names the other regions")
    source = ec2ops.describe_image(aws.ec2(source_region), image_id)
    name = str(source["Name"])
    result = CopyResult()
    for region in regions:
        found = ec2ops.images_named(aws.ec2(region), name)
        if found:
            result.existing[region] = str(found[0]["ImageId"])
            report(f"{region}: {found[0]['ImageId']} is already named {name}; left alone")
    todo = [r for r in regions if r not in result.existing]
    plan = published_state(aws, source_region, source)
    keys = {r: check_key(aws, r, kms_keys[r], plan.accounts, report) for r in todo if r in kms_keys}
    tags = {k: v for k, v in tags_dict(source.get("Tags")).items() if not k.startswith("aws:")}
    requests = [CopyRequest(r, name, str(source.get("Description", "")), tags, keys.get(r)) for r in todo]
    if not requests:
        return result
    result.copy_id = new_copy_id()
    journal = Journal(path=work_dir / "builds" / f"{result.copy_id}.json", build_id=result.copy_id,
                      recipe=f"copy of {image_id}")
    journal.save()
    report(f"copy {result.copy_id}: copying {image_id} to {', '.join(todo)}")
    copier = RegionCopier(aws, source_region=source_region, source_image_id=image_id, requests=requests,
                          timeout=timeout, delay=delay, token=f"goldsmith-{result.copy_id}",
                          hooks=journal_hooks(journal))
    result.copies = _copy_all_or_nothing(aws, copier, plan, journal, report)
    return result


def _copy_all_or_nothing(aws: Aws, copier: RegionCopier, plan: Published, journal: Journal,
                         report: Callable[[str], None]) -> dict[str, RegionCopy]:
    """Run the copies with SIGTERM raising; on any failure remove them all with signals held off."""
    try:
        with signals_raise():
            copies = copier.run()
            for copy in copies.values():
                plan.apply(aws.ec2(copy.region), copy, report)
                report(f"{copy.region}: {copy.image_id} available")
    except BaseException as exc:
        with signals_held():
            problems = copier.remove_all(lambda c, s: _removed(journal, report, c, s))
            interrupted = isinstance(exc, (KeyboardInterrupt, Terminated, Cancelled))
            journal.finish("interrupted" if interrupted else "failed")
        if problems:
            report("delete manually: " + "; ".join(problems)
                   + f" (or: invoke clean --build-id {journal.build_id} --yes)")
        if interrupted:
            which = "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
            raise Interrupted(f"copy interrupted by {which}; the copies it had started were removed.") from exc
        raise
    journal.finish("succeeded")
    return copies


def _removed(journal: Journal, report: Callable[[str], None], copy: RegionCopy, snapshots: list[str]) -> None:
    journal.deleted("image", copy.image_id)
    for snapshot_id in snapshots:
        journal.deleted("snapshot", snapshot_id)
    report(f"{copy.region}: removed {copy.image_id}" + (f" and {', '.join(snapshots)}" if snapshots else ""))


@dataclass
class Published:
    """How the source AMI is published, to repeat on each copy (copies carry none of it)."""

    launch: list[LaunchPermissionTypeDef] = field(default_factory=list)
    snapshots: dict[str, list[CreateVolumePermissionTypeDef]] = field(default_factory=dict)  # device -> permissions
    deprecate_at: datetime | None = None

    @property
    def accounts(self) -> list[str]:
        return [e["UserId"] for e in self.launch if "UserId" in e]

    def apply(self, ec2: EC2Client, copy: RegionCopy, report: Callable[[str], None] = lambda line: None) -> None:
        """Repeat the permissions and the deprecation time on a copy: public only if the source is. A
        deprecation time that has passed (the source is already deprecated) is left out with a warning:
        EnableImageDeprecation refuses a time in the past, and that failure would remove every copy."""
        named = [e for e in self.launch if e != sharing.PUBLIC]
        sharing.add_launch_permissions(ec2, copy.image_id, named, public=sharing.PUBLIC in self.launch)
        for device, permissions in self.snapshots.items():
            snapshot_id = copy.snapshots.get(device)
            if snapshot_id:
                users = [p["UserId"] for p in permissions if "UserId" in p]
                group = any(p.get("Group") == "all" for p in permissions)
                sharing.change_snapshot_permissions(ec2, snapshot_id, users, public=group)
        if self.deprecate_at is None:
            return
        if self.deprecate_at <= datetime.now(UTC):
            report(f"warning: {copy.region}: {copy.image_id} is not deprecated: the source's deprecation time "
                   f"{self.deprecate_at:%Y-%m-%d %H:%M} UTC has passed, and AWS refuses a time in the past")
            return
        images.enable_deprecation(ec2, copy.image_id, self.deprecate_at)


def published_state(aws: Aws, region: str, source: ImageTypeDef) -> Published:
    ec2 = aws.ec2(region)
    image_id = str(source["ImageId"])
    state = Published(launch=sharing.launch_permissions(ec2, image_id))
    for device, snapshot_id in ec2ops.snapshots_by_device(source).items():
        permissions = sharing.snapshot_permissions(ec2, snapshot_id)
        if permissions:
            state.snapshots[device] = permissions
    when = source.get("DeprecationTime")
    if when:
        state.deprecate_at = datetime.fromisoformat(str(when).replace("Z", "+00:00"))
    return state


def check_key(aws: Aws, region: str, key: str, accounts: Sequence[str],
              report: Callable[[str], None] = lambda line: None) -> str:
    """The key's ARN, once it is known to exist, be enabled, be in the region and serve the accounts (as far as
    can be checked: another account's key policy cannot be read, which `report` warns about)."""
    info = kms.describe_key(aws.kms(region), key, region, field=f"--kms-key for {region}")
    for warning in kms.check_consumers(aws.kms(region), info, accounts=accounts, field=f"--kms-key for {region}",
                                       caller_account=lambda: aws.identity().account):
        report(f"warning: {warning}")
    return info.arn
