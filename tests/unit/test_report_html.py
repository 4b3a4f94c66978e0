"""The HTML report rendered from real run files: a log written by Events, a journal by Journal, a manifest
entry by manifest_entry + write_manifest, JUnit XML by a real pytest run; then `invoke report`'s command."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from goldsmith import commands_report
from goldsmith.aws.session import Aws
from goldsmith.bake.api import _write_report
from goldsmith.bake.build_report import find_entry, load_build_view, write_build_report
from goldsmith.bake.manifest import manifest_entry
from goldsmith.bake.state import Artifact, BuildState
from goldsmith.engine.journal import Journal
from goldsmith.engine.runner import StepRecord
from goldsmith.errors import InputError
from goldsmith.pipeline.record import RecipeRun, RunRecord
from goldsmith.pipeline.run_report import write_run_report
from goldsmith.report.events import Events
from goldsmith.report.manifest import write_manifest
from goldsmith.report.redact import Redactor
from goldsmith.report.timeline import Span, timeline

REPO = Path(__file__).resolve().parents[2]
SECRET = "hunter2-s3cr3t-value"
BUILD = "web-20261204-101500-3f9a"
STEPS = [("resolve-source", 0.4, "ok"), ("launch-instance", 0.3, "ok"), ("provision", 2.0, "ok"),
         ("snapshot-volumes", 0.1, "ok"), ("register-image", 0.2, "ok"), ("validate-image", 1.0, "failed")]

SUITE = """\
import pytest

def test_motd(): assert True
def test_port_80(): assert 1 == 2, "nothing listens on port 80"
@pytest.mark.skip(reason="not on this image")
def test_skipped(): pass
"""


@pytest.fixture(scope="module")
def junit(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A JUnit report as the validate package has pytest write it (xunit2), of a real run of SUITE."""
    tmp = tmp_path_factory.mktemp("junit")
    suite = tmp / "test_web.py"
    suite.write_text(SUITE)
    path = tmp / "report.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={path}",
                    "-o", "junit_family=xunit2", str(suite)], cwd=tmp, capture_output=True, check=False, timeout=60)
    return path.read_text()


def _bake_files(work: Path, junit: str, *, outcome: str = "failed", build_id: str = BUILD) -> dict[str, Any]:
    """Everything a failed bake leaves in the work dir, written by the real writers."""
    redactor = Redactor([SECRET])
    events = Events(work / "logs" / f"{build_id}.jsonl", None, redactor, build_id)
    journal = Journal(path=work / "builds" / f"{build_id}.json", build_id=build_id, recipe="web", target="sandbox")
    state = BuildState(build_id=build_id, region="us-east-1", facts={"source_ami": "ami-0123456789abcdef0",
                                                                     "source_ami_name": "debian-12"}, tags={})
    t = time.time() - 10
    for name, seconds, status in STEPS:
        events.step_started(name)
        if name == "provision":
            events.info("provision[0] install nginx")
            events.output("provision", f"[0 shell] token is {SECRET}")
            events.output("provision", "[0 shell] <script>alert('x')</script>")
            events.info("provision[1] marker")
            events.output("provision", "[1 file] uploaded /etc/marker")
        if name == "launch-instance":
            instance = journal.intent("instance", "us-east-1", "token")
            journal.created(instance, "i-0abc")
            key = journal.intent("key-pair", "us-east-1", "goldsmith-web")
            journal.created(key, "key-0abc")
        if name == "register-image":
            image = journal.intent("image", "us-east-1", "web-1.0.0")
            journal.created(image, "ami-0feedfacefeedface")
        events.step_finished(name, status, seconds, error="suites failed" if status != "ok" else "")
        state.steps.append(StepRecord(name=name, started_at=t, duration=seconds, status=status))  # type: ignore[arg-type]
        t += seconds
    events.warn(f"something odd about {SECRET}")
    journal.deleted("instance", "i-0abc")
    junit_path = work / "reports" / f"{build_id}-image.xml"
    junit_path.parent.mkdir(parents=True, exist_ok=True)
    junit_path.write_text(junit)
    state.outcome = outcome  # type: ignore[assignment]
    state.error = "image ami-0feedfacefeedface failed validation (1 passed, 1 failed, 0 errors)"
    state.image_name = "web-1.0.0"
    state.artifacts = {"us-east-1": Artifact("us-east-1", "ami-0feedfacefeedface", {"/dev/xvda": "snap-01"}),
                       "eu-west-1": Artifact("eu-west-1", "ami-0eu0eu0eu0eu0eu00", {"/dev/xvda": "snap-02"})}
    state.launch_permissions = [{"UserId": "111122223333"}, {"OrganizationArn": "arn:aws:organizations::1:o-x"}]
    state.snapshot_permissions = ["111122223333"]
    state.channels = ["candidate"]
    state.validation = {"junit": str(junit_path), "passed": 1, "failed": 1, "errors": 0}
    journal.finish(outcome)
    entry = manifest_entry(state, recipe="web", version="1.0.0", target="sandbox",
                           requests={"ec2:RunInstances": 1, "ec2:DescribeImages": 4})
    write_manifest(work / "manifests" / f"{build_id}.json", entry)
    events.close()
    return entry


class _Page(HTMLParser):
    """What the checks look at: the timeline's bars, the <details> blocks, any external reference."""

    def __init__(self) -> None:
        super().__init__()
        self.bars: list[dict[str, str]] = []
        self.details: list[dict[str, str]] = []
        self.external: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "rect" and "bar" in a.get("class", "").split():
            self.bars.append(a)
        if tag == "details":
            self.details.append(a)
        if tag == "script":
            self.scripts += 1
        for key in ("src", "href"):
            if re.match(r"^(https?:)?//", a.get(key, "")):
                self.external.append(a[key])


def _page(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def test_a_failed_bakes_report_shows_every_part(tmp_path: Path, junit: str) -> None:
    work = tmp_path / "work"
    _bake_files(work, junit)
    path = write_build_report(work, BUILD, redactor=Redactor([SECRET]))
    assert path == work / "reports" / f"{BUILD}.html"
    text = path.read_text()
    page = _page(text)
    # the timeline: a bar per step, in order, drawn to scale, the failed one red
    assert [b["class"] for b in page.bars] == [f"bar {s}" for _, _, s in STEPS]
    widths = [float(b["width"]) for b in page.bars]
    assert widths[2] / widths[0] == pytest.approx(2.0 / 0.4, rel=0.01)  # provision 2.0 s, resolve-source 0.4 s
    assert [float(b["x"]) for b in page.bars] == sorted(float(b["x"]) for b in page.bars)
    assert page.bars[-1]["fill"] == "#c62828" and all(b["fill"] != "#c62828" for b in page.bars[:-1])
    # the provisioners' output, collapsed, escaped, secret masked
    assert len([d for d in page.details if "provisioner" in d.get("class", "")]) == 2
    assert all("open" not in d for d in page.details)
    assert "provision[0] install nginx" in text and "uploaded /etc/marker" in text
    assert "&lt;script&gt;alert(" in text and page.scripts == 0
    # validation test by test, from the JUnit pytest wrote
    assert "test_web.py::test_motd" in text and "test_web.py::test_port_80" in text
    assert "nothing listens on port 80" in text and "not on this image" in text
    assert re.search(r"1 passed, 1 failed, 0 errors, 1 skipped", text)
    # resources and whether they were removed
    assert re.search(r"<tr class=\"removed\">.*i-0abc.*removed", text)
    assert re.search(r"<tr class=\"left\">.*key-0abc.*not removed", text)
    # AMIs per region, permissions, channels, requests; recipe and source
    for shown in ("ami-0feedfacefeedface", "ami-0eu0eu0eu0eu0eu00", "account 111122223333",
                  "organization arn:aws:organizations::1:o-x", "candidate", "ami-0123456789abcdef0", "web 1.0.0",
                  "ec2:DescribeImages", "failed validation"):
        assert shown in text, shown
    assert '<dd id="request-total">5</dd>' in text
    # nothing from outside, no secret
    assert page.external == [] and "Content-Security-Policy" in text
    assert SECRET not in text and "***" in text



@pytest.mark.parametrize("cache", ["writable", "unwritable"])
def test_report_templates_are_compiled_once_into_the_users_cache(
        tmp_path: Path, junit: str, monkeypatch: pytest.MonkeyPatch, cache: str) -> None:
    """Later bakes load the compiled templates; with no usable cache directory the report is still written."""
    from goldsmith.report import html

    home = tmp_path / "cache"
    if cache == "unwritable":
        home.write_text("a file where the cache directory would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    html._environment.cache_clear()
    try:
        work = tmp_path / "work"
        _bake_files(work, junit)
        def undated(text: str) -> str:
            return re.sub(r"[\d-]+ \d\d:\d\d:\d\d UTC", "", text)

        first = undated(write_build_report(work, BUILD).read_text())
        compiled = sorted(home.glob("goldsmith/jinja2-*/__jinja2_*.cache")) if cache == "writable" else []
        assert len(compiled) == (3 if cache == "writable" else 0)  # build.html, its layout and its timeline
        html._environment.cache_clear()  # a new process: the templates come from the cache
        assert undated(write_build_report(work, BUILD).read_text()) == first
    finally:
        html._environment.cache_clear()

def test_a_killed_bake_without_manifest_is_reported_from_its_log(tmp_path: Path, junit: str) -> None:
    work = tmp_path / "work"
    _bake_files(work, junit)
    (work / "manifests" / f"{BUILD}.json").unlink()
    with (work / "logs" / f"{BUILD}.jsonl").open("a") as log:
        log.write(json.dumps({"time": time.time(), "build_id": BUILD, "event": "step_started",
                              "step": "copy-regions"}) + "\n")
        log.write('{"time": 1, "torn')  # the write SIGKILL interrupted
    view = load_build_view(work, BUILD)
    assert [b.name for b in view.timeline.bars][-1] == "copy-regions"
    assert view.timeline.bars[-1].status == "running"
    assert view.outcome == "failed"  # validate-image failed in the log
    assert find_entry(work, BUILD) == {}


def test_a_pipeline_runs_report_links_each_bake(tmp_path: Path, junit: str) -> None:
    work = tmp_path / "work"
    entry = _bake_files(work, junit, outcome="succeeded")
    (work / "manifests" / f"{BUILD}.json").rename(work / "manifests" / "release-run.json")
    assert find_entry(work, BUILD)["build_id"] == BUILD
    write_build_report(work, BUILD)
    now = time.time()
    record = RunRecord(run_id="release-20261204-1", pipeline="release", path="pipelines/release.yaml", recipes={
        "web": RecipeRun("web", status="baked", build_id=BUILD, images={"us-east-1": "ami-0feedfacefeedface"},
                         started_at=now - 5, seconds=4.0, entry=entry, channels=["stable"]),
        "base": RecipeRun("base", status="reused", reason="same inputs", build_id="base-old",
                          images={"us-east-1": "ami-0base"}, started_at=now - 6, seconds=0.5),
        "extra": RecipeRun("extra", status="skipped", reason="not selected (--only)"),
    }, finished_at=now, outcome="succeeded")
    record.save(work)
    path = commands_report.report(work, "release-20261204-1")
    text = path.read_text()
    page = _page(text)
    assert path.name == "release-20261204-1.html"
    assert [b["class"] for b in page.bars] == ["bar reused", "bar baked"]  # by start time; skipped never ran
    assert f'href="{BUILD}.html"' in text and 'href="base-old.html"' not in text  # no report to link there
    assert "ami-0base" in text and "not selected (--only)" in text and "stable" in text
    assert page.external == []
    assert (work / "reports" / f"{BUILD}.html").exists()
    assert write_run_report(work, {**record.__dict__, "recipes": {}, "run_id": "x"}).name == "x.html"


def test_report_latest_and_unknown_ids(tmp_path: Path, junit: str) -> None:
    work = tmp_path / "work"
    with pytest.raises(InputError, match="no build or pipeline run in") as empty:
        commands_report.report(work, "latest")
    assert empty.value.exit_code == 2
    _bake_files(work, junit, build_id="web-20261204-101500-0001")
    time.sleep(0.01)
    _bake_files(work, junit, build_id="web-20261204-101600-0002")
    assert commands_report.report(work, "latest").name == "web-20261204-101600-0002.html"
    with pytest.raises(InputError) as unknown:
        commands_report.report(work, "web-20261204-101600-0003")
    assert unknown.value.exit_code == 2
    assert "did you mean 'web-20261204-101600-0002'" in str(unknown.value)
    with pytest.raises(InputError):
        commands_report.report(work, "../builds/web-20261204-101600-0002")


def test_invoke_report_with_an_unknown_build_exits_2(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "INVOKE_GOLDSMITH_WORK_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "invoke", "report", "base-20261204-000000-dead"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "no build or pipeline run 'base-20261204-000000-dead'" in proc.stderr


def test_the_browser_is_opened_only_with_a_display_and_never_in_ci(tmp_path: Path) -> None:
    opened: list[str] = []

    def opener(url: str) -> bool:
        opened.append(url)
        return True

    report = tmp_path / "r.html"
    assert not commands_report.open_report(report, opener=opener, env={})  # a server without a display
    assert not commands_report.open_report(report, opener=opener, env={"DISPLAY": ":0", "CI": "true"})
    assert commands_report.open_report(report, opener=opener, env={"WAYLAND_DISPLAY": "wayland-0"})
    assert opened == [report.resolve().as_uri()]
    assert commands_report.has_display({}, platform="darwin")
    assert not commands_report.has_display({"CI": "1"}, platform="darwin")


def test_a_report_that_cannot_be_written_is_a_warning(tmp_path: Path, junit: str) -> None:
    work = tmp_path / "work"
    entry = _bake_files(work, junit)
    (work / "reports" / f"{BUILD}.html").mkdir(parents=True)  # where the file must go
    events = Events(tmp_path / "log.jsonl", None, Redactor(), BUILD)
    assert _write_report(work, BUILD, entry, Redactor(), events) is None
    events.close()
    warnings = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [w["event"] for w in warnings] == ["warning"]
    assert "the HTML report could not be written" in warnings[0]["message"]


def test_timeline_scale_and_ticks() -> None:
    line = timeline([Span("a", 100.0, 1.0, "ok"), Span("b", 101.0, 3.0, "failed"), Span("c", 104.0, 0.0, "ok")])
    a, b, c = line.bars
    assert line.total == pytest.approx(4.0)
    assert b.width == pytest.approx(3 * a.width) and b.x == pytest.approx(a.x + a.width)
    assert c.width > 0 and b.colour == "#c62828"
    assert [t.label for t in line.ticks] == ["0 s", "1 s", "2 s", "3 s", "4 s"]
    assert timeline([]).bars == ()


def test_the_aws_session_counts_requests_per_call(aws: Aws) -> None:
    counted = Aws(aws.settings)
    counted.ec2().describe_regions()
    counted.ec2().describe_images(Owners=["self"])
    counted.ec2().describe_images(Owners=["self"])
    counted.sts().get_caller_identity()
    assert counted.requests() == {"ec2:DescribeImages": 2, "ec2:DescribeRegions": 1, "sts:GetCallerIdentity": 1}
