"""Reading what is inside an image (goldsmith.images.contents) and its CycloneDX SBOM (goldsmith.images.sbom).

The collection script is also run for real on this machine (a Debian: dpkg-query), as the bake runs it on
the build instance; the SBOMs are checked with cyclonedx-python-lib's own schema validator."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from goldsmith.errors import InputError
from goldsmith.images.contents import (
    COLLECT_SCRIPT,
    Contents,
    Package,
    parse_collected,
    parse_dpkg,
    parse_os_release,
    parse_rpm,
    read_contents,
    write_contents,
)
from goldsmith.images.sbom import package_url, sbom_text, validate_sbom

IDENTITY = {"build_id": "web-20261204-090000-abcd", "recipe": "web", "version": "1.2.0",
            "recorded_at": "2026-12-04T09:00:00+00:00", "source_ami": "ami-0123456789abcdef0"}

OS_RELEASE = """\
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
# a comment
VERSION='12 (bookworm)'
ID=debian

HOME_URL="https://www.debian.org/"
broken line without equals
BAD="unterminated
"""

DPKG_LINES = [
    "ii \tlibc6\t2.36-9+deb12u4\tamd64",
    "ii \tlibc6\t2.36-9+deb12u4\ti386",
    "ii \tbase-files\t12.4+deb12u5\tamd64",
    "rc \told-thing\t1.0-1\tamd64",  # removed, configuration kept: not in the image
    "un \tnever\t\t",
    "hi \tlinux-image-6.1.0-18-amd64\t6.1.76-1\tamd64",  # on hold, installed
    "iU \thalf\t1.0\tall",  # unpacked, not configured
]

RPM_LINES = [
    "bash\t5.1.8-6.el9\tx86_64",
    "kernel-core\t5.14.0-362.8.1.el9_3\tx86_64",
    "shadow-utils\t2:4.9-8.el9\tx86_64",
    "gpg-pubkey\tfd431d51-4ae0493b\t(none)",
]


def collected(manager: str, records: list[str]) -> list[str]:
    head = ["### goldsmith-contents os-release", *OS_RELEASE.splitlines(), "### goldsmith-contents uname",
            "6.1.0-18-amd64", "x86_64"]
    return [*head, f"### goldsmith-contents {manager}", *records, "### goldsmith-contents end"]


def test_os_release_is_read_as_the_shell_would() -> None:
    found = parse_os_release(OS_RELEASE.splitlines())
    assert found == {"PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)", "NAME": "Debian GNU/Linux", "VERSION_ID": "12",
                     "VERSION": "12 (bookworm)", "ID": "debian", "HOME_URL": "https://www.debian.org/"}


def test_dpkg_keeps_installed_packages_only_with_their_architecture() -> None:
    assert parse_dpkg(DPKG_LINES) == [
        Package("base-files", "12.4+deb12u5", "amd64"), Package("libc6", "2.36-9+deb12u4", "amd64"),
        Package("libc6", "2.36-9+deb12u4", "i386"), Package("linux-image-6.1.0-18-amd64", "6.1.76-1", "amd64")]


def test_rpm_keeps_epochs_and_leaves_out_signing_keys() -> None:
    assert parse_rpm(RPM_LINES) == [
        Package("bash", "5.1.8-6.el9", "x86_64"), Package("kernel-core", "5.14.0-362.8.1.el9_3", "x86_64"),
        Package("shadow-utils", "2:4.9-8.el9", "x86_64")]


@pytest.mark.parametrize("line", ["ii \tonly-two", "x", "ii \ta\tb\tc\td"])
def test_a_line_that_is_not_a_record_is_an_error(line: str) -> None:
    with pytest.raises(ValueError, match="unexpected dpkg-query line"):
        parse_dpkg([line])


def test_collected_output_becomes_contents_with_kernel_packages() -> None:
    contents = parse_collected(collected("dpkg", DPKG_LINES), **IDENTITY)
    assert (contents.os_name, contents.kernel, contents.machine, contents.manager) == (
        "Debian GNU/Linux 12 (bookworm)", "6.1.0-18-amd64", "x86_64", "dpkg")
    assert [p.name for p in contents.kernel_packages] == ["linux-image-6.1.0-18-amd64"]
    rpm = parse_collected(collected("rpm", RPM_LINES), **IDENTITY)
    assert rpm.manager == "rpm" and [p.name for p in rpm.kernel_packages] == ["kernel-core"]


def test_an_image_without_dpkg_or_rpm_has_os_and_kernel_but_no_packages() -> None:
    lines = [line for line in collected("dpkg", []) if "contents dpkg" not in line]
    contents = parse_collected(lines, **IDENTITY)
    assert contents.manager == "none" and contents.packages == [] and contents.kernel == "6.1.0-18-amd64"


def test_an_unfinished_inventory_is_an_error_naming_the_tool() -> None:
    lines = [*collected("dpkg", DPKG_LINES)[:-1], "### goldsmith-contents failed dpkg-query"]
    with pytest.raises(ValueError, match=r"did not finish \(failed dpkg-query\)"):
        parse_collected(lines, **IDENTITY)


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="no dpkg on this machine")
def test_the_collection_script_reads_this_machine(tmp_path: Path) -> None:
    """The script the bake runs on the build instance, run here by sh: every installed package, once."""
    out = subprocess.run(["sh", "-c", COLLECT_SCRIPT], capture_output=True, text=True, timeout=120, check=True)
    contents = parse_collected(out.stdout.splitlines(), **IDENTITY)
    expected = subprocess.run(["dpkg-query", "-W", "-f", "${db:Status-Abbrev} ${binary:Package}\n"],
                              capture_output=True, text=True, check=True).stdout.splitlines()
    installed = [line for line in expected if line[1] == "i"]
    assert contents.manager == "dpkg" and len(contents.packages) == len(installed) > 50
    assert contents.os.get("ID") and contents.kernel == subprocess.check_output(["uname", "-r"], text=True).strip()
    path, sbom = write_contents(tmp_path, contents)
    assert read_contents(path, "this machine") == contents
    assert validate_sbom(sbom.read_text()) == []


def test_contents_round_trip_through_json(tmp_path: Path) -> None:
    contents = parse_collected(collected("rpm", RPM_LINES), **IDENTITY)
    assert Contents.from_json(json.loads(json.dumps(contents.to_json()))) == contents
    path, sbom = write_contents(tmp_path, contents)
    assert path == tmp_path / "contents" / f"{IDENTITY['build_id']}.json"
    assert sbom == tmp_path / "sbom" / f"{IDENTITY['build_id']}.cdx.json"
    summary = contents.summary(path, sbom)
    assert summary["packages"] == 3 and summary["kernel"] == "6.1.0-18-amd64" and summary["os_id"] == "debian"


@pytest.mark.parametrize("text", ["", "{}", '{"format": 1}', '{"format": 2, "packages": []}', "[1]"])
def test_a_file_that_is_not_a_contents_record_is_bad_input(tmp_path: Path, text: str) -> None:
    path = tmp_path / "c.json"
    path.write_text(text)
    with pytest.raises(InputError, match="not a readable contents record"):
        read_contents(path, "build x")
    with pytest.raises(InputError, match="were not recorded here"):
        read_contents(tmp_path / "missing.json", "build x")


def test_the_sbom_is_valid_cyclonedx_with_purls_per_package() -> None:
    contents = parse_collected(collected("dpkg", DPKG_LINES), **IDENTITY)
    text = sbom_text(contents)
    assert validate_sbom(text) == []
    bom = json.loads(text)
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.6"
    assert bom["metadata"]["component"]["name"] == "web" and bom["metadata"]["component"]["version"] == "1.2.0"
    purls = {c["name"] + ":" + c.get("purl", "").rpartition("arch=")[2].split("&")[0] for c in bom["components"]}
    assert {"libc6:amd64", "libc6:i386", "base-files:amd64"} <= purls
    libc = next(c for c in bom["components"] if c["name"] == "libc6")
    assert libc["purl"].startswith("pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=")
    kernel = next(c for c in bom["components"] if c["name"].startswith("linux-image"))
    assert {"name": "goldsmith:kernel", "value": "true"} in kernel["properties"]
    assert len(bom["dependencies"][0]["dependsOn"]) == len(contents.packages) + 1  # the OS and every package
    assert sbom_text(contents) == text  # the same contents give the same document


def test_rpm_purls_carry_the_epoch_as_a_qualifier() -> None:
    contents = parse_collected(collected("rpm", RPM_LINES), **IDENTITY)
    contents.os.update(ID="rhel", VERSION_ID="9.3")
    shadow = next(p for p in contents.packages if p.name == "shadow-utils")
    assert package_url(contents, shadow).to_string() == (
        "pkg:rpm/rhel/shadow-utils@4.9-8.el9?arch=x86_64&distro=rhel-9.3&epoch=2")
    assert validate_sbom(sbom_text(contents)) == []


def test_the_validator_finds_a_broken_sbom() -> None:
    bom = json.loads(sbom_text(parse_collected(collected("dpkg", DPKG_LINES), **IDENTITY)))
    del bom["components"][1]["name"]
    bom["components"][2]["type"] = "gadget"
    errors = validate_sbom(json.dumps(bom))
    assert len(errors) >= 2 and any("'name' is a required property" in e for e in errors)
