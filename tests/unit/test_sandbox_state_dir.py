"""The sandbox's state dir is its owner's alone, and `up` leaves a daemon of an older Goldsmith alone."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from goldsmith.errors import EnvironmentProblem
from goldsmith.sandbox import manage
from goldsmith.sandbox.state_dir import make_private

NOBODY = 65534


def test_a_new_state_dir_is_0700_and_a_loose_one_is_tightened(tmp_path: Path) -> None:
    fresh = tmp_path / "a" / "state"
    make_private(fresh)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    os.chmod(loose, 0o755)
    (loose / "daemon.log").write_text("x")
    os.chmod(loose / "daemon.log", 0o644)
    (loose / "runtime").mkdir()
    os.chmod(loose / "runtime", 0o755)
    make_private(loose)
    assert [stat.S_IMODE(p.stat().st_mode) for p in (loose, loose / "daemon.log", loose / "runtime")] == [
        0o700, 0o600, 0o700]


@pytest.mark.skipif(os.geteuid() != 0, reason="making a directory another user's needs root")
def test_a_state_dir_of_another_user_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chown(theirs, NOBODY, NOBODY)
    with pytest.raises(EnvironmentProblem, match=f"belongs to uid {NOBODY}"):
        make_private(theirs)
    with pytest.raises(EnvironmentProblem, match="only the user who started a sandbox can drive it"):
        manage.up(theirs)
    assert list(theirs.iterdir()) == []


def test_up_refuses_a_serving_daemon_without_a_key_and_does_not_stop_it(tmp_path: Path) -> None:
    """A daemon of a Goldsmith from before per-sandbox keys: serving (sandbox.json), holding the lock, no
    credentials.json. Waiting for its key would wait forever, then stop someone's sandbox."""
    state = tmp_path / "state"
    make_private(state)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"lock = open({str(state / 'daemon.lock')!r}, 'a'); fcntl.flock(lock, fcntl.LOCK_EX)\n"
        f"open({str(state / 'daemon.pid')!r}, 'w').write(str(os.getpid()))\n"
        "print('locked', flush=True); time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        (state / "sandbox.json").write_text(json.dumps({
            "pid": holder.pid, "gateway_url": "http://127.0.0.1:9", "moto_pid": holder.pid, "moto_port": 9,
            "region": "us-east-1", "started_at": time.time()}))
        started = time.monotonic()
        with pytest.raises(EnvironmentProblem, match=r"older Goldsmith.*invoke sandbox.down"):
            manage.up(state)
        assert time.monotonic() - started < 10
        assert holder.poll() is None  # still running
    finally:
        holder.kill()
        holder.wait()
