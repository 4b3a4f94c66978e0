"""Signals during a bake: Ctrl-C and SIGTERM interrupt steps, never a cleanup, never a create call.

- `signals_raise`: SIGTERM raises in the main thread like SIGINT does (KeyboardInterrupt).
- `signals_held`: while cleanups run, signals are ignored: an interrupted cleanup would leak.
- `create_then_record`: a signal arriving while a resource is being created is delivered only once
  its id is recorded, so the cleanup knows what to delete (otherwise an instance created by a
  RunInstances cut short by Ctrl-C would run on, unrecorded).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Terminated(BaseException):
    """SIGTERM, raised in the main thread like KeyboardInterrupt is for SIGINT."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def signals_raise() -> Iterator[None]:
    """SIGTERM raises Terminated in the main thread for the duration."""
    if not _in_main_thread():
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
    if not _in_main_thread():
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
    if not _in_main_thread():
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
