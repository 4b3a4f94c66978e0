"""What is inside an image, end to end: two real bakes of one recipe whose provisioner installs different
packages (tiny .debs built with dpkg-deb on the build instance and installed with dpkg -i), each recording
its contents and SBOM; then `invoke diff` between them by version, AMI id and build id, as text and JSON,
and bad input (exit 2, no AWS call)."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from goldsmith.images.sbom import validate_sbom
from tests.sandbox.helpers import REPO, run_invoke

pytestmark = pytest.mark.sandbox

RECIPE = """\
name: {name}
version: {version}
source:
  filter:
    name: debian-12-sandbox-amd64-*
    owners: ["136693071363"]
build:
  instance_type: t3.micro
  ssh_username: admin
provision:
  - type: shell
    env: {{PACKAGES: "{packages}"}}
    script: {dir}/install_debs.sh
image:
  name: "{name}-{{{{ recipe_version }}}}-{{{{ build_id }}}}"
"""

# Builds one tiny package per NAME=VERSION with dpkg-deb and installs it: a real dpkg install, offline.
INSTALL_DEBS = """\
#!/bin/sh
set -eu
for spec in $PACKAGES; do
  name=${spec%%=*} version=${spec#*=}
  root=$(mktemp -d)
  mkdir -p "$root/DEBIAN" "$root/usr/share/doc/$name"
  printf 'Package: %s\\nVersion: %s\\nArchitecture: all\\nMaintainer: Goldsmith tests <tests@example.invalid>\\n'\\
'Description: a package the contents test installs\\n' "$name" "$version" > "$root/DEBIAN/control"
  echo "$name $version" > "$root/usr/share/doc/$name/VERSION"
  dpkg-deb --root-owner-group --build "$root" "$root.deb" >/dev/null
  dpkg -i "$root.deb"
  rm -rf "$root" "$root.deb"
done
"""

V1 = "goldsmith-probe=1.0~rc1-1 goldsmith-gone=1.0"
V2 = "goldsmith-probe=1.0-1 goldsmith-new=2.0"  # 1.0-1 is newer than 1.0~rc1-1 (as text it sorts before)


@pytest.fixture
def project() -> Iterator[tuple[Path, str]]:
    """Two versions of one recipe (its name unique to this run), in a directory of the checkout."""
    directory = REPO / f".test-contents-{uuid.uuid4().hex[:8]}"
    name = f"contents-{uuid.uuid4().hex[:6]}"
    directory.mkdir()
    (directory / "install_debs.sh").write_text(INSTALL_DEBS)
    for version, packages in (("1.0.0", V1), ("1.1.0", V2)):
        (directory / f"v{version}.yaml").write_text(RECIPE.format(name=name, version=version, packages=packages,
                                                                  dir=directory.name))
    try:
        yield directory, name
    finally:
        shutil.rmtree(directory)


def bake(recipe: Path, work: Path) -> dict[str, Any]:
    proc = run_invoke(["bake", str(recipe)], work_dir=work)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    manifest = next(line for line in proc.stdout.splitlines() if line.startswith("manifest: "))
    entry: dict[str, Any] = json.loads(Path(manifest.removeprefix("manifest: ")).read_text())["builds"][-1]
    assert "contents: Debian GNU/Linux 12 (bookworm)" in proc.stdout + proc.stderr  # the step's line
    return entry


def last_seq(client: Any) -> int:
    log = client.requests()
    return int(log[-1]["seq"]) if log else 0


def invoke_diff(work: Path, *args: str) -> tuple[int, str, str]:
    proc = run_invoke(["diff", *args], work_dir=work, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def check_recorded(entry: dict[str, Any], work: Path, probe_version: str) -> None:
    """The manifest's summary, the contents file and a valid SBOM naming the probe package by its purl."""
    steps = [s["name"] for s in entry["steps"]]
    assert steps[steps.index("record-contents") + 1] == "stop-instance"
    summary = entry["contents"]
    assert summary["os"] == "Debian GNU/Linux 12 (bookworm)" and summary["package_manager"] == "dpkg"
    assert summary["packages"] > 50 and summary["kernel"]
    assert Path(summary["path"]) == work / "contents" / f"{entry['build_id']}.json"
    packages = {name: version for name, version, _ in json.loads(Path(summary["path"]).read_text())["packages"]}
    assert packages["goldsmith-probe"] == probe_version and packages["openssh-server"]
    sbom = Path(summary["sbom"]).read_text()
    assert validate_sbom(sbom) == []
    purls = {c.get("purl") for c in json.loads(sbom)["components"]}
    assert f"pkg:deb/debian/goldsmith-probe@{probe_version.replace('~', '%7E')}?arch=all&distro=debian-12" in purls \
        or f"pkg:deb/debian/goldsmith-probe@{probe_version}?arch=all&distro=debian-12" in purls


def test_two_bakes_record_their_contents_and_diff_shows_the_change(
    sandbox: Any, sandbox_client: Any, project: tuple[Path, str], tmp_path: Path
) -> None:
    directory, name = project
    first = bake(directory / "v1.0.0.yaml", tmp_path)
    second = bake(directory / "v1.1.0.yaml", tmp_path)
    check_recorded(first, tmp_path, "1.0~rc1-1")
    check_recorded(second, tmp_path, "1.0-1")

    code, out, err = invoke_diff(tmp_path, f"{name}@1.0.0", f"{name}@1.1.0")
    assert code == 0, out + err
    count = first["contents"]["packages"]
    assert f"packages: {count} -> {count}: 1 added, 1 removed, 1 upgraded, 0 downgraded" in out, out
    assert "  + goldsmith-new 2.0 (all)" in out and "  - goldsmith-gone 1.0 (all)" in out
    assert "  ^ goldsmith-probe 1.0~rc1-1 -> 1.0-1 (all)" in out
    assert "os: Debian GNU/Linux 12 (bookworm) (unchanged)" in out

    old_ami = first["artifacts"]["us-east-1"]["ami_id"]
    code, out, err = invoke_diff(tmp_path, old_ami, second["build_id"], "--json")
    assert code == 0, out + err
    data = json.loads(out)
    assert data["old"]["build_id"] == first["build_id"] and data["old"]["images"] == {"us-east-1": old_ami}
    assert data["counts"] == {"added": 1, "removed": 1, "upgraded": 1, "downgraded": 0}
    assert data["packages"]["upgraded"] == [{"name": "goldsmith-probe", "arch": "all", "old": "1.0~rc1-1",
                                             "new": "1.0-1"}]


def test_diff_of_unknown_builds_exits_2_without_an_aws_call(sandbox: Any, sandbox_client: Any,
                                                             tmp_path: Path) -> None:
    before = last_seq(sandbox_client)
    for args, message in ((["nosuch-20261204-000000-0000", "other"], "unknown build"),
                          (["ami-0123456789abcdef0", "ami-0123456789abcdef1"], "no manifest names this AMI"),
                          (["base@1.0.0", "base@1.1.0"], "no build of recipe 'base'"),
                          (["only-one"], "")):
        code, out, err = invoke_diff(tmp_path, *args)
        assert code == 2, out + err
        assert message in err
    assert last_seq(sandbox_client) == before  # the gateway saw no request
