"""Copy an AMI to several regions in parallel, all or nothing, and cancellable.

One worker thread per region (boto3 clients are thread-safe and Aws keeps one per region). The main
thread only waits on the futures, in short slices, so Ctrl-C reaches it at once; it then sets the
cancel event, every worker stops within one poll, and `remove_all` deregisters every copy that was
started (the id is recorded the moment CopyImage answers, before any wait) and deletes its snapshots.
The bake's CopyRegions step and `invoke copy` both use this class.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from goldsmith.aws import images

if TYPE_CHECKING:
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
                 timeout: float, delay: float, token: str, hooks: CopyHooks | None = None) -> None:
        self.aws = aws
        self.source_region = source_region
        self.source_image_id = source_image_id
        self.requests = list(requests)
        self.timeout = timeout
        self.delay = delay
        self.token = token
        self.hooks = hooks or CopyHooks()
        self.copies: dict[str, RegionCopy] = {}
        self.cancel = threading.Event()
        self._lock = threading.Lock()
        self._pool: cf.ThreadPoolExecutor | None = None

    def run(self) -> dict[str, RegionCopy]:
        """Copy to every region; the first failure cancels the others and is raised (nothing removed yet)."""
        if not self.requests:
            return {}
        self._pool = cf.ThreadPoolExecutor(max_workers=len(self.requests), thread_name_prefix="copy")
        futures = [self._pool.submit(self._copy_one, request) for request in self.requests]
        try:
            pending: set[cf.Future[RegionCopy]] = set(futures)
            while pending:
                done, pending = cf.wait(pending, timeout=0.2, return_when=cf.FIRST_EXCEPTION)
                for future in done:
                    future.result()  # raises the worker's error
        except BaseException:
            self.stop()
            raise
        self._pool.shutdown(wait=True)
        return dict(self.copies)

    def stop(self) -> None:
        """Cancel pending copies and tell running ones to stop waiting; does not block."""
        self.cancel.set()
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
        if self.cancel.is_set():
            raise images.Cancelled(f"copy to {request.region} cancelled")
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
        image = images.wait_available(ec2, image_id, timeout=self.timeout, delay=self.delay, cancel=self.cancel)
        copy.snapshots = images.snapshots_by_device(image)
        # Copies carry no tags of their own on every EC2 implementation: set them on image and snapshots.
        images.create_tags(ec2, [image_id, *copy.snapshots.values()], request.tags)
        copy.available = True
        self.hooks.finished(copy)
        return copy
