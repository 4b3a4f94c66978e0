"""Signals: Ctrl-C and SIGTERM interrupt steps, never a cleanup, never a create call.

Python runs signal handlers only in the main thread, so:
- a run in the main thread gets them as exceptions: `signals_raise` makes SIGTERM raise `Terminated`
  as SIGINT raises KeyboardInterrupt; `signals_held` ignores both while cleanups run;
  `create_then_record` delivers a signal arriving during a create call only once its id is recorded;
- runs in worker threads are reached through their cancel tokens: `CancelScope` (entered in the main
  thread) turns the first Ctrl-C/SIGTERM into cancelling every token it handed out, and ignores more
  signals while the workers clean up. Off the main thread the helpers above do nothing.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import Any

from goldsmith.engine.cancel import CancelToken


class Terminated(BaseException):
    """SIGTERM, raised in the main thread like KeyboardInterrupt is for SIGINT."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


def in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def signals_raise() -> Iterator[None]:
    """SIGTERM raises Terminated in the main thread for the duration."""
    if not in_main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def signals_held() -> Iterator[None]:
    """Ignore SIGINT/SIGTERM for the duration (cleanups)."""
    if not in_main_thread():
        yield
        return
    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    old_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


@contextmanager
def create_then_record() -> Iterator[None]:
    """Defer SIGINT/SIGTERM until the block (a create call and the recording of its id) is done."""
    if not in_main_thread():
        yield
        return
    received: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    old_int = signal.signal(signal.SIGINT, note)
    old_term = signal.signal(signal.SIGTERM, note)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
        if received:
            if received[0] == signal.SIGINT:
                raise KeyboardInterrupt
            raise Terminated()


class CancelScope:
    """In the main thread: the first Ctrl-C or SIGTERM cancels every token this scope handed out.

    Later signals are ignored (the workers are cleaning up). `signal_name` says what arrived, so the
    caller can exit 130. Outside the main thread the scope installs nothing (cancel() still works).
    """

    def __init__(self) -> None:
        self.root = CancelToken()
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    def token(self) -> CancelToken:
        return self.root.child()

    def cancel(self, reason: str) -> None:
        self.root.cancel(reason)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.signal_name is None:
            self.signal_name = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
            self.cancel(f"interrupted by {self.signal_name}")

    def __enter__(self) -> CancelScope:
        if in_main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()
