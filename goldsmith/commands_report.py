"""What `invoke report` does, as plain functions tests call directly; tasks_report.py only adapts them.

Re-renders the HTML report of a bake or a pipeline run from what it left in the work dir (no AWS call) and
says where it is; it opens it in a browser only where there is a display to show it and not in CI.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from goldsmith.errors import InputError

LATEST = "latest"


def report(work_dir: Path, build_id: str) -> Path:
    """Render the report of build (or pipeline run) `build_id`, or of the newest one for `latest`; its path.

    An id the work dir knows nothing of is bad input (InputError, exit 2)."""
    from goldsmith.bake.build_report import write_build_report
    from goldsmith.pipeline.run_report import read_run_record, write_run_report

    run_id = latest(work_dir) if build_id == LATEST else build_id
    record = read_run_record(work_dir, run_id)
    if record is not None:
        for run in record.get("recipes", {}).values():  # each bake's report first: the run's links to them
            if run.get("build_id") and _known_build(work_dir, str(run["build_id"])):
                write_build_report(work_dir, str(run["build_id"]))
        return write_run_report(work_dir, record)
    if not _known_build(work_dir, run_id):
        raise InputError(_unknown(work_dir, run_id))
    return write_build_report(work_dir, run_id)


def latest(work_dir: Path) -> str:
    """The build or pipeline run recorded last in the work dir (its journal or run record)."""
    recorded = _recorded(work_dir)
    if not recorded:
        raise InputError(f"report: no build or pipeline run in {work_dir} yet (bake a recipe first; the work dir "
                         f"is config goldsmith.work_dir, INVOKE_GOLDSMITH_WORK_DIR)")
    return max(recorded, key=lambda item: item[1])[0]


def _recorded(work_dir: Path) -> list[tuple[str, float]]:
    found = []
    for folder in ("builds", "pipelines"):
        for path in (work_dir / folder).glob("*.json") if (work_dir / folder).is_dir() else ():
            try:
                found.append((path.stem, path.stat().st_mtime))
            except OSError:
                continue
    return found


def _known_build(work_dir: Path, build_id: str) -> bool:
    """A build this work dir has a journal or a log of (a bake writes both before its first step)."""
    if not build_id or "/" in build_id or build_id.startswith("."):
        return False
    return (work_dir / "builds" / f"{build_id}.json").is_file() or (work_dir / "logs" / f"{build_id}.jsonl").is_file()


def _unknown(work_dir: Path, build_id: str) -> str:
    from goldsmith.recipe.hints import did_you_mean

    known = sorted(_recorded(work_dir), key=lambda item: item[1])
    names = [name for name, _ in known]
    recent = f"; the newest here: {', '.join(reversed(names[-3:]))}" if names else "; none is recorded there yet"
    return (f"report {build_id}: no build or pipeline run '{build_id}' in {work_dir}"
            f"{did_you_mean(build_id, names)}{recent}")


def has_display(env: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """Whether a browser window could be shown: never in CI; on Linux and the BSDs only with an X11 or
    Wayland display (without one, webbrowser would start a text browser in this terminal, or wait)."""
    env = os.environ if env is None else env
    platform = platform or sys.platform
    if env.get("CI", "").lower() not in ("", "0", "false"):
        return False
    if platform in ("darwin", "win32"):
        return True
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def open_report(path: Path, *, opener: Callable[[str], bool] | None = None,
                env: Mapping[str, str] | None = None) -> bool:
    """Open the report in the desktop's browser where there is one; True when it was handed over."""
    if not has_display(env):
        return False
    if opener is None:
        import webbrowser

        opener = webbrowser.open
    try:
        return bool(opener(path.resolve().as_uri()))
    except Exception:  # a broken browser setup must not fail the command: the path is printed anyway
        return False
