"""`invoke diff` without a sandbox: builds found through the manifests a bake writes, the package changes
between two images, and bad input (exit 2, no AWS call). The sandbox test bakes the images for real
(tests/sandbox/test_contents.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from goldsmith.commands import Settings
from goldsmith.commands_contents import diff
from goldsmith.errors import InputError
from goldsmith.images.contents import Contents, Package, contents_path, write_contents
from goldsmith.images.diff import Change, diff_packages, load_manifest_builds, resolve
from goldsmith.report.manifest import write_manifest

REPO = Path(__file__).resolve().parents[2]
OS12 = {"ID": "debian", "VERSION_ID": "12", "PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)"}


def contents(build_id: str, version: str, packages: list[Package], **extra: Any) -> Contents:
    fields: dict[str, Any] = {"os": OS12, "kernel": "6.1.0-18-amd64", "manager": "dpkg", **extra}
    return Contents(build_id, "web", version, "2026-12-04T09:00:00+00:00", packages=sorted(packages), **fields)


def baked(work: Path, c: Contents, amis: dict[str, str], *, outcome: str = "succeeded", when: int = 0,
          record: bool = True) -> None:
    """What a bake leaves: the contents files and a manifest entry summarising them."""
    summary: dict[str, Any] = {}
    if record:
        summary = c.summary(*write_contents(work, c))
    entry = {"build_id": c.build_id, "recipe": c.recipe, "version": c.version, "outcome": outcome,
             "build_time": when, "reused": False, "reused_from": "", "contents": summary,
             "artifacts": {r: {"ami_id": a} for r, a in amis.items()}}
    write_manifest(work / "manifests" / f"{c.build_id}.json", entry)


OLD = [Package("curl", "7.88.1-10+deb12u5", "amd64"), Package("gone", "1.0", "all"),
       Package("probe", "1.0~rc1-1", "all"), Package("libc6", "2.36-9", "amd64"), Package("libc6", "2.36-9", "i386"),
       Package("tzdata", "2024a-1", "all"), Package("archy", "1.0", "all")]
NEW = [Package("curl", "7.88.1-10+deb12u12", "amd64"), Package("new", "2.0", "all"),
       Package("probe", "1.0-1", "all"), Package("libc6", "2.36-9", "amd64"), Package("tzdata", "2023c-1", "all"),
       Package("archy", "1.0", "amd64"), Package("linux-image-6.1.0-20-amd64", "6.1.85-1", "amd64")]


@pytest.fixture
def work(tmp_path: Path) -> Path:
    baked(tmp_path, contents("web-1", "1.0.0", OLD), {"us-east-1": "ami-00000000000000001",
                                                      "us-west-2": "ami-00000000000000002"}, when=1)
    baked(tmp_path, contents("web-2", "1.1.0", NEW, kernel="6.1.0-20-amd64"), {"us-east-1": "ami-00000000000000003"},
          when=2)
    baked(tmp_path, contents("web-3", "1.1.0", NEW), {}, outcome="failed", when=3)
    return tmp_path


def settings(work: Path) -> Settings:
    return Settings(target="sandbox", work_dir=work)


def test_packages_added_removed_upgraded_downgraded_in_dpkg_order() -> None:
    d = diff_packages(contents("a", "1", OLD), contents("b", "2", NEW))
    assert [p.name for p in d.added] == ["archy", "linux-image-6.1.0-20-amd64", "new"]
    assert [(p.name, p.arch) for p in d.removed] == [("archy", "all"), ("gone", "all"), ("libc6", "i386")]
    assert d.upgraded == [Change("curl", "amd64", "7.88.1-10+deb12u5", "7.88.1-10+deb12u12"),  # u12 > u5
                          Change("probe", "all", "1.0~rc1-1", "1.0-1")]  # ~ sorts before the release
    assert d.downgraded == [Change("tzdata", "all", "2024a-1", "2023c-1")]
    assert not any(diff_packages(contents("a", "1", OLD), contents("b", "1", OLD)).counts().values())


def test_rpm_images_compare_with_rpm_rules() -> None:
    old = contents("a", "1", [Package("kernel-core", "5.14.0-362.8.1.el9_3", "x86_64")], manager="rpm")
    new = contents("b", "2", [Package("kernel-core", "5.14.0-427.13.1.el9_4", "x86_64")], manager="rpm")
    assert [c.name for c in diff_packages(old, new).upgraded] == ["kernel-core"]


def test_a_side_is_a_build_id_an_ami_of_any_region_or_recipe_at_version(work: Path) -> None:
    entries = load_manifest_builds(work)
    assert resolve("web-1", work, entries).contents.build_id == "web-1"
    west = resolve("ami-00000000000000002", work, entries)
    assert west.contents.build_id == "web-1" and west.images["us-east-1"] == "ami-00000000000000001"
    assert resolve("web@1.1.0", work, entries).contents.build_id == "web-2"  # web-3 is newer but failed
    assert resolve("web-3", work, entries).contents.build_id == "web-3"  # named outright, a failed one is read


def test_a_reused_build_stands_for_the_build_it_reused(work: Path) -> None:
    entry = {"build_id": "web-4", "recipe": "web", "version": "1.1.0", "outcome": "succeeded", "build_time": 4,
             "reused": True, "reused_from": "web-2", "contents": {},
             "artifacts": {"us-east-1": {"ami_id": "ami-00000000000000003"}}}
    write_manifest(work / "manifests" / "web-4.json", entry)
    entries = load_manifest_builds(work)
    assert resolve("web-4", work, entries).contents.build_id == "web-2"
    assert resolve("web@1.1.0", work, entries).contents.build_id == "web-2"


def test_text_output_names_both_images_and_every_change(work: Path) -> None:
    text = diff(settings(work), "web@1.0.0", "ami-00000000000000003")
    lines = text.splitlines()
    assert lines[0] == "old: web 1.0.0, build web-1, us-east-1:ami-00000000000000001, us-west-2:ami-00000000000000002"
    assert lines[1] == "new: web 1.1.0, build web-2, us-east-1:ami-00000000000000003"
    assert "os: Debian GNU/Linux 12 (bookworm) (unchanged)" in lines
    assert "kernel: 6.1.0-18-amd64 -> 6.1.0-20-amd64" in lines
    assert "kernel packages: +linux-image-6.1.0-20-amd64 6.1.85-1" in lines
    assert "packages: 7 -> 7: 3 added, 3 removed, 2 upgraded, 1 downgraded" in lines
    assert "  + new 2.0 (all)" in lines and "  - gone 1.0 (all)" in lines
    assert "  ^ probe 1.0~rc1-1 -> 1.0-1 (all)" in lines
    assert "  v tzdata 2024a-1 -> 2023c-1 (all) DOWNGRADED" in lines


def test_json_output_is_machine_readable(work: Path) -> None:
    data = json.loads(diff(settings(work), "web-1", "web-2", as_json=True))
    assert data["old"]["build_id"] == "web-1" and data["new"]["images"] == {"us-east-1": "ami-00000000000000003"}
    assert data["counts"] == {"added": 3, "removed": 3, "upgraded": 2, "downgraded": 1}
    assert {"name": "new", "version": "2.0", "arch": "all"} in data["packages"]["added"]
    assert {"name": "probe", "arch": "all", "old": "1.0~rc1-1", "new": "1.0-1"} in data["packages"]["upgraded"]
    assert data["kernel"] == {"old": "6.1.0-18-amd64", "new": "6.1.0-20-amd64", "changed": True, "packages": {
        "added": [{"name": "linux-image-6.1.0-20-amd64", "version": "6.1.85-1", "arch": "amd64"}],
        "removed": [], "upgraded": [], "downgraded": []}}
    assert data["os"] == {"old": OS12["PRETTY_NAME"], "new": OS12["PRETTY_NAME"], "changed": False}


def test_a_manifest_kept_elsewhere_is_read_when_named(work: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    elsewhere = tmp_path_factory.mktemp("ci") / "manifest.json"
    (work / "manifests" / "web-2.json").rename(elsewhere)
    with pytest.raises(InputError, match="no manifest names this AMI"):
        diff(settings(work), "web-1", "ami-00000000000000003")
    assert "build web-2" in diff(settings(work), "web-1", "ami-00000000000000003", manifests=[str(elsewhere)])


@pytest.mark.parametrize(("old", "message"), [
    ("nosuch-20261204-000000-0000", "unknown build"),
    ("ami-0fffffffffffffff0", "no manifest names this AMI"),
    ("web@9.9.9", r"no successful build of version 9.9.9 \(known: 1.0.0, 1.1.0\)"),
    ("api@1.0.0", "no build of recipe 'api'"),
    ("@1.0", "give RECIPE@VERSION"),
    ("../../etc/passwd", "give a build id, an AMI id"),
    (" ", "OLD is empty"),
])
def test_bad_references_are_input_errors(work: Path, old: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        diff(settings(work), old, "web-2")
    assert caught.value.exit_code == 2


def test_a_build_without_recorded_contents_is_an_input_error(work: Path) -> None:
    baked(work, contents("web-5", "2.0.0", NEW), {"us-east-1": "ami-00000000000000005"}, record=False)
    with pytest.raises(InputError, match="build web-5 recorded no contents"):
        diff(settings(work), "web-1", "ami-00000000000000005")
    baked(work, contents("web-6", "2.0.0", NEW), {"us-east-1": "ami-00000000000000006"})
    contents_path(work, "web-6").unlink()
    with pytest.raises(InputError, match="its contents were not recorded here"):
        diff(settings(work), "web-1", "web-6")


def test_invoke_diff_exits_2_on_an_unknown_build(work: Path) -> None:
    env = {**os.environ, "INVOKE_GOLDSMITH_WORK_DIR": str(work), "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    proc = subprocess.run([sys.executable, "-m", "invoke", "diff", "web-1", "nosuch-1"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "nosuch-1: unknown build" in proc.stderr
    ok = subprocess.run([sys.executable, "-m", "invoke", "diff", "web-1", "web-2", "--json"], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=60, check=False)
    assert ok.returncode == 0 and json.loads(ok.stdout)["counts"]["added"] == 3
