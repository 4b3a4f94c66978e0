"""The HTML report of real sandbox bakes and of a pipeline run, opened in a real headless browser (Debian's
chromium driven by Playwright): it loads with no console error and no request but its own file, draws a bar
per step, the failed step red, and keeps secrets out. Screenshots go to the test's tmp_path."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox.helpers import build_ids, run_invoke

pytestmark = pytest.mark.sandbox

CHROMIUM = Path("/usr/bin/chromium")
SECRET = f"tok-{uuid.uuid4().hex}"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]

RECIPE = """\
name: report-test
version: 2.1.0
description: report test {project}
variables:
  token: {{secret: true}}
  fail: {{default: "no"}}
source:
  filter:
    name: debian-12-sandbox-amd64-*
    owners: ["136693071363"]
build:
  instance_type: t3.micro
  ssh_username: admin
provision:
  - type: shell
    name: say hello
    env: {{TOKEN: "{{{{ token }}}}"}}
    inline:
      - echo "hello <b>from</b> the build, token $TOKEN"
      - echo marked | sudo tee /etc/report-test
  - type: shell
    name: maybe fail
    inline: ['echo "fail={{{{ fail }}}}"', 'test "{{{{ fail }}}}" != yes']
image:
  name: "report-test-{{{{ timestamp }}}}-{{{{ build_id[-4:] }}}}"
  regions: [us-west-2]
  share: {{accounts: ["111122223333"]}}
  channel: candidate
validate:
  suites: [tests/images/test_report.py]
"""

SUITE = """\
def test_marked(host):
    assert host.file("/etc/report-test").exists


def test_admin_exists(host):
    assert host.user("admin").exists
"""

PIPELINE = """\
name: reported
recipes:
  - recipe: report-test
"""


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "project"
    (root / "recipes").mkdir(parents=True)
    (root / "tests" / "images").mkdir(parents=True)
    (root / "pipelines").mkdir()
    (root / "invoke.yaml").write_text("goldsmith: {}\n")
    (root / "recipes" / "report-test.yaml").write_text(RECIPE.format(project=uuid.uuid4().hex[:12]))
    (root / "tests" / "images" / "test_report.py").write_text(SUITE)
    (root / "pipelines" / "reported.yaml").write_text(PIPELINE)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A fresh headless chromium (its own user-data-dir, nothing phoning home) for the module's pages."""
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: apt-get install -y chromium (bash scripts/setup.sh does)")
    import tempfile

    from playwright.sync_api import sync_playwright  # dev extra (pyproject), as scripts/setup.sh installs it

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=BROWSER_ARGS,
            viewport={"width": 1280, "height": 900})
        try:
            yield context
        finally:
            context.close()


class Loaded:
    """A report opened in the browser, with what the page logged and asked for."""

    def __init__(self, context: Any, path: Path) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page = context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.url = path.resolve().as_uri()
        response = self.page.goto(self.url, wait_until="load")
        assert response is None or response.ok

    def clean(self) -> None:
        assert self.errors == []
        assert set(self.requests) == {self.url}  # no asset, font or favicon from anywhere

    def bars(self) -> list[tuple[str, str]]:
        """(step, status) of each bar of the timeline, as the page draws them."""
        return [(g.get_attribute("data-step"), g.get_attribute("data-status"))
                for g in self.page.locator("svg.timeline g.step").all()]

    def fill(self, step: str) -> str:
        rect = self.page.locator(f'svg.timeline g.step[data-step="{step}"] rect.bar')
        return str(rect.evaluate("e => getComputedStyle(e).fill"))


def _bake(project: Path, work: Path, *flags: str) -> tuple[Any, Path, str]:
    proc = run_invoke(["bake", str(project / "recipes" / "report-test.yaml"), "--var", f"token={SECRET}", *flags],
                      work_dir=work)
    (build_id,) = build_ids(work)
    return proc, work / "reports" / f"{build_id}.html", build_id


def _manifest(work: Path, build_id: str) -> dict[str, Any]:
    return json.loads((work / "manifests" / f"{build_id}.json").read_text())["builds"][-1]  # type: ignore[no-any-return]


def test_a_bakes_report_in_a_real_browser(sandbox: Any, project: Path, tmp_path: Path, browser: Any) -> None:
    work = tmp_path / "work"
    proc, report, build_id = _bake(project, work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"report: {report}" in proc.stdout
    entry = _manifest(work, build_id)
    text = report.read_text()
    assert SECRET not in text and SECRET not in (work / "logs" / f"{build_id}.jsonl").read_text()

    page = Loaded(browser, report)
    page.clean()
    assert page.bars() == [(s["name"], s["status"]) for s in entry["steps"]]
    assert {status for _, status in page.bars()} == {"ok"}
    assert page.page.locator("#outcome").inner_text() == "succeeded"
    images = page.page.locator("#images").inner_text()
    for region, artifact in entry["artifacts"].items():
        assert region in images and artifact["ami_id"] in images
    assert "account 111122223333" in page.page.inner_text("body") and "candidate" in page.page.inner_text("body")
    assert int(page.page.locator("#request-total").inner_text()) == sum(entry["requests"].values()) > 10
    assert entry["requests"]["ec2:RunInstances"] == 2  # the build and the validation instance
    # provisioners collapsed; opened, their output (escaped, masked) shows
    first = page.page.locator("details.provisioner").first
    assert first.evaluate("e => e.open") is False
    first.locator("summary").click()
    assert "hello <b>from</b> the build, token ***" in first.locator("pre").inner_text()
    tests = page.page.locator("table.tests").inner_text()
    assert "test_report.py::test_marked" in tests and "test_report.py::test_admin_exists" in tests
    resources = page.page.locator("#resources").inner_text()
    assert "instance" in resources and "removed" in resources and "not removed" not in resources
    page.page.screenshot(path=str(tmp_path / "bake.png"), full_page=True)
    assert (tmp_path / "bake.png").stat().st_size > 10_000

    report.unlink()  # invoke report re-renders it from the work dir's files
    again = run_invoke(["report", build_id, "--no-open"], work_dir=work)
    assert again.returncode == 0, again.stderr
    assert f"report: {report}" in again.stdout and report.exists()
    assert run_invoke(["report", "latest", "--no-open"], work_dir=work).returncode == 0


def test_a_failed_bakes_failed_step_is_red(sandbox: Any, project: Path, tmp_path: Path, browser: Any) -> None:
    work = tmp_path / "work"
    proc, report, build_id = _bake(project, work, "--var", "fail=yes")
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert report.exists() and f"report: {report}" in proc.stderr  # the console's log line
    page = Loaded(browser, report)
    page.clean()
    entry = _manifest(work, build_id)
    assert page.bars() == [(s["name"], s["status"]) for s in entry["steps"]]
    assert page.bars()[-1] == ("provision", "failed")
    assert page.fill("provision") == "rgb(198, 40, 40)"
    assert {page.fill(step) for step, _ in page.bars()[:-1]} == {"rgb(46, 125, 50)"}
    assert page.page.locator("#outcome").inner_text() == "failed"
    error = page.page.locator("#error").inner_text()
    assert "provision[1]" in error and "maybe fail" in error
    failed = page.page.locator("details.provisioner.failed")
    assert failed.count() == 1 and "maybe fail" in failed.locator("summary").inner_text()
    page.page.screenshot(path=str(tmp_path / "failed.png"), full_page=True)
    assert (tmp_path / "failed.png").stat().st_size > 10_000


def test_a_pipeline_runs_report_links_its_bakes(sandbox: Any, project: Path, tmp_path: Path, browser: Any) -> None:
    work = tmp_path / "work"
    proc = run_invoke(["pipeline", str(project / "pipelines" / "reported.yaml"), "--var", f"token={SECRET}"],
                      work_dir=work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_id,) = (p.stem for p in (work / "pipelines").glob("*.json"))
    (build_id,) = build_ids(work)
    report = work / "reports" / f"{run_id}.html"
    assert f"report: {report}" in proc.stdout
    assert SECRET not in report.read_text() and SECRET not in (work / "reports" / f"{build_id}.html").read_text()
    page = Loaded(browser, report)
    page.clean()
    assert page.bars() == [("report-test", "baked")]
    page.page.screenshot(path=str(tmp_path / "pipeline.png"), full_page=True)
    page.page.locator(f'#recipes a[href="{build_id}.html"]').click()
    page.page.wait_for_load_state("load")
    assert page.page.url.endswith(f"/{build_id}.html")
    assert page.page.locator("#outcome").inner_text() == "succeeded"
