"""Cancellation that works off the main thread.

Python delivers signals only to the main thread, so a bake running in a worker thread cannot be
interrupted by KeyboardInterrupt. Instead it carries a `CancelToken`; every long wait (AWS waiters,
SSH commands and connection retries, suites, region copies) sleeps on the token and raises
`Cancelled` once it is set. While a run's cleanups execute, the token is *held*: waits there run to
the end, because an interrupted cleanup would leak.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Cancelled(BaseException):
    """Raised in the thread doing the work when its token is cancelled (a BaseException, like
    KeyboardInterrupt, so that no `except Exception` retry loop swallows it)."""

    def __init__(self, reason: str = "cancelled") -> None:
        super().__init__(reason)
        self.reason = reason


class CancelToken:
    """A cancel flag with a reason; children are cancelled with their parent."""

    def __init__(self, parent: CancelToken | None = None) -> None:
        self._event = threading.Event()
        self._reason = ""
        self._held = 0
        self._children: list[CancelToken] = []
        self._lock = threading.Lock()
        if parent is not None:
            parent._adopt(self)

    def _adopt(self, child: CancelToken) -> None:
        with self._lock:
            self._children.append(child)
            cancelled = self._event.is_set()
        if cancelled:
            child.cancel(self._reason)

    def child(self) -> CancelToken:
        """A token cancelled with this one, that can also be cancelled on its own (e.g. sibling copies)."""
        return CancelToken(parent=self)

    def cancel(self, reason: str = "cancelled") -> None:
        with self._lock:
            if not self._event.is_set():
                self._reason = reason
                self._event.set()
            children = list(self._children)
        for child in children:
            child.cancel(reason)

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def is_set(self) -> bool:
        """As threading.Event.is_set: the token has been cancelled."""
        return self._event.is_set()

    @property
    def reason(self) -> str:
        return self._reason or "cancelled"

    def check(self) -> None:
        """Raise Cancelled if the token is cancelled (and not held)."""
        if self._event.is_set() and not self._held:
            raise Cancelled(self.reason)

    def sleep(self, seconds: float) -> None:
        """Sleep up to `seconds`; raise Cancelled as soon as the token is cancelled (unless held)."""
        end = time.monotonic() + max(0.0, seconds)
        self.check()
        if self._event.wait(max(0.0, seconds)):
            self.check()
            left = end - time.monotonic()
            if left > 0:  # held: a cleanup's wait runs its course
                time.sleep(left)

    @contextmanager
    def held(self) -> Iterator[None]:
        """Waits inside the block ignore the cancellation (cleanups must complete)."""
        with self._lock:
            self._held += 1
        try:
            yield
        finally:
            with self._lock:
                self._held -= 1


NEVER = CancelToken()
"""A token nobody cancels, for callers that have none (one-shot commands in the main thread)."""
