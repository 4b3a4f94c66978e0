"""End a finished command without CPython's interpreter teardown.

A Goldsmith command has ~600 modules loaded (botocore, pydantic, jinja2, invoke); once its tasks are done,
CPython still frees them one by one, which costs 0.2-0.5 s of every `invoke check`, cache-hit bake and
pipeline rerun and does nothing a user can see. This module ends the process as soon as the tasks return:
it runs the atexit handlers (logging's flush, the tool's own hooks), flushes stdout and stderr, then calls
`os._exit`. It only does so for a command process (`invoke`, `inv`, `goldsmith`) with no other non-daemon
thread still running: a thread's work is never cut short, and embedding programs (tests calling
`Program.run`) exit as usual.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import sys
import threading
from collections.abc import Callable
from typing import Any, NoReturn

from invoke.exceptions import Exit

COMMAND_NAMES = frozenset({"invoke", "inv", "goldsmith"})
COMMAND_MODULES = frozenset({"invoke", "invoke.__main__", "goldsmith.cli"})
OPTIONS_WITH_VALUE = frozenset({"-X", "-W", "--check-hash-based-pycs"})


def launched_as_command(orig_argv: list[str] | None = None) -> bool:
    """True when the interpreter itself was started to run invoke or goldsmith, and nothing traces it.

    Judged from the interpreter's own command line (`sys.orig_argv`), not `sys.argv` or `__main__`, which a
    wrapper such as `coverage run -m invoke` or `python -m pyinstrument -m invoke` rewrites: those wrappers
    write their results after the program returns, so it must return. A debugger, profiler or tracer in
    the process keeps the normal exit too.
    """
    if sys.gettrace() is not None or sys.getprofile() is not None:
        return False
    args = list(sys.orig_argv if orig_argv is None else orig_argv)[1:]
    while args:
        arg = args.pop(0)
        if arg == "-m":
            return bool(args) and args[0] in COMMAND_MODULES
        if arg == "-c" or arg == "-":
            return False
        if arg in OPTIONS_WITH_VALUE:
            args = args[1:]
        elif not arg.startswith("-"):
            return os.path.basename(arg) in COMMAND_NAMES
    return False


def others_running() -> bool:
    """True when a non-daemon thread besides this one is alive: Python would wait for it, so must we."""
    current = threading.current_thread()
    return any(t is not current and t.is_alive() and not t.daemon for t in threading.enumerate())


def exit_now(code: int) -> NoReturn:
    """Run the atexit handlers, flush the standard streams and end the process with `code`."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed or a broken pipe: nothing more to say there
            stream.flush()
    os._exit(code)


def fast_exit_after(execute: Callable[[Any], None]) -> Callable[[Any], None]:
    """Wrap invoke's `Program.execute` so a command process exits as soon as its tasks are done.

    `Program.run` itself cannot be wrapped: it is already running when tasks.py is imported. Exit keeps its
    message (printed as `Program.run` would) and its code; other exceptions go the usual way (tracebacks,
    UnexpectedExit, KeyboardInterrupt).
    """
    if getattr(execute, "_goldsmith_fast_exit", False):
        return execute

    @functools.wraps(execute)
    def run_then_exit(self: Any) -> None:
        try:
            execute(self)
        except Exit as exc:
            if not launched_as_command() or others_running():
                raise
            if exc.message:
                print(exc.message, file=sys.stderr)
            exit_now(exc.code if isinstance(exc.code, int) else 1)
        if launched_as_command() and not others_running():
            exit_now(0)

    run_then_exit._goldsmith_fast_exit = True  # type: ignore[attr-defined]
    return run_then_exit
