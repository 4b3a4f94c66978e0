"""Where a bake's wall time went (issue 15): AWS waits on its path, their polling overshoot, its own work; the
JSON log gets every wait, the manifest and the report the accounting."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from goldsmith.aws.wait_log import WaitLog, WaitRecord, record_wait
from goldsmith.bake.build_report import write_build_report
from goldsmith.bake.manifest import manifest_entry
from goldsmith.bake.state import BuildState
from goldsmith.report.redact import Redactor
from goldsmith.report.view import time_sentence


def _record(kind: str, seconds: float, last_pause: float, thread: int) -> WaitRecord:
    return WaitRecord(kind=kind, resource="r", started=0.0, seconds=seconds, checks=3, last_pause=last_pause,
                      thread=thread, done_at=seconds)


def test_waits_on_the_runs_thread_are_its_path_and_copies_wait_beside_it() -> None:
    heard: list[WaitRecord] = []
    log = WaitLog(listener=heard.append)
    log.add(_record("instance_running", 30.0, 4.0, log.thread))
    log.add(_record("snapshot", 60.0, 6.0, log.thread))
    worker = threading.Thread(target=lambda: record_wait(log, "copy", "ami-1", time.monotonic() - 5.0, 4, 2.0))
    worker.start()
    worker.join()
    spent = log.accounting(wall=100.0)
    assert (spent["aws_waits"], spent["overshoot"], spent["own_work"]) == (90.0, 5.0, 10.0)
    assert spent["background_waits"] == pytest.approx(5.0, abs=0.1)
    assert spent["by_kind"]["snapshot"] == {"waits": 1, "seconds": 60.0, "overshoot": 3.0, "checks": 3}
    assert [r.kind for r in heard] == ["instance_running", "snapshot", "copy"]
    assert heard[-1].as_log()["overshoot"] == 1.0 and "thread" not in heard[-1].as_log()


def test_the_last_copy_to_end_is_found_for_the_join() -> None:
    log = WaitLog()
    log.add(WaitRecord("copy", "ami-1", 0.0, 5.0, 3, 1.0, 1, done_at=5.0))
    log.add(WaitRecord("copy", "ami-2", 0.0, 7.0, 4, 2.0, 2, done_at=7.0))
    log.add(WaitRecord("image", "ami-2", 0.0, 9.0, 4, 2.0, 2, done_at=9.0))
    found = log.last_of("copy", {"ami-1", "ami-2"})
    assert found is not None and found.resource == "ami-2"
    assert log.last_of("copy", {"ami-3"}) is None


def test_the_report_says_where_the_time_went(tmp_path: Path) -> None:
    spent = {"wall": 20.0, "aws_waits": 12.6, "overshoot": 0.4, "own_work": 7.4, "background_waits": 5.9,
             "by_kind": {}}
    assert time_sentence(spent) == ("20.0 s: 12.6 s waiting for AWS (of which ~0.400 s polling overshoot), "
                                    "7.4 s own work; region copies waited 5.9 s beside it")
    assert time_sentence({}) == ""
    state = BuildState(build_id="b-1", region="us-east-1", facts={}, tags={})
    entry = manifest_entry(state, recipe="web", version="1.0.0", target="sandbox", time_spent=spent)
    assert entry["time"] == spent
    page = write_build_report(tmp_path, "b-1", entry=entry, redactor=Redactor()).read_text()
    assert 'id="time-spent">20.0 s: 12.6 s waiting for AWS' in page
