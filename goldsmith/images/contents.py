"""What is inside an image: its /etc/os-release, its package inventory (dpkg or rpm: name, version,
architecture) and its kernel (`uname -r` and the installed kernel packages).

A bake reads them on the build instance right before it is stopped (the record-contents step runs
COLLECT_SCRIPT over SSH and hands its output to `parse_collected`), keeps them as JSON in
WORK_DIR/contents/BUILD_ID.json, a CycloneDX SBOM beside them (goldsmith.images.sbom) and a summary in
the manifest entry. `invoke diff` (goldsmith.images.diff) reads them back with `read_contents`.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from goldsmith.engine.files import write_json_atomic
from goldsmith.errors import InputError
from goldsmith.images.versions import Manager

__all__ = ["COLLECT_SCRIPT", "FORMAT", "Contents", "Package", "contents_path", "parse_collected", "parse_dpkg",
           "parse_os_release", "parse_rpm", "read_contents", "sbom_path", "write_contents"]

FORMAT = 1  # the contents file's layout version
SECTION = "### goldsmith-contents "  # + name: starts a section of COLLECT_SCRIPT's output
DPKG_FORMAT = r"${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\n"
RPM_FORMAT = r"%{NAME}\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\t%{ARCH}\n"

# One command, no sudo, nothing written on the instance: every section starts with a marker line, and
# each tool's stderr is dropped so only its records follow the marker (a failing tool leaves its section
# empty and the script exits non-zero, naming it).
COLLECT_SCRIPT = f"""\
set -u
say() {{ printf '%s%s\\n' {shlex.quote(SECTION)} "$1"; }}
say os-release
cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null || true
say uname
uname -r; uname -m
if command -v dpkg-query >/dev/null 2>&1; then
  say dpkg
  dpkg-query -W -f {shlex.quote(DPKG_FORMAT)} 2>/dev/null || {{ say 'failed dpkg-query'; exit 3; }}
elif command -v rpm >/dev/null 2>&1; then
  say rpm
  rpm -qa --qf {shlex.quote(RPM_FORMAT)} 2>/dev/null || {{ say 'failed rpm -qa'; exit 3; }}
fi
say end
"""


@dataclass(frozen=True, order=True)
class Package:
    name: str
    version: str
    arch: str


@dataclass
class Contents:
    """One image's contents, with the build that recorded them."""

    build_id: str
    recipe: str
    version: str
    recorded_at: str  # ISO 8601 UTC
    source_ami: str = ""
    os: dict[str, str] = field(default_factory=dict)  # /etc/os-release, as its KEY=value pairs
    kernel: str = ""  # uname -r (the running kernel when recorded)
    machine: str = ""  # uname -m
    manager: Manager = "none"
    packages: list[Package] = field(default_factory=list)  # installed ones, sorted

    @property
    def os_name(self) -> str:
        """'Debian GNU/Linux 12 (bookworm)', or what the file offers."""
        return self.os.get("PRETTY_NAME") or " ".join(filter(None, (self.os.get("NAME"), self.os.get("VERSION_ID"))))

    @property
    def kernel_packages(self) -> list[Package]:
        return [p for p in self.packages if is_kernel_package(self.manager, p.name)]

    def summary(self, path: Path, sbom: Path) -> dict[str, Any]:
        """What the manifest entry says of the contents (the files hold the rest)."""
        return {
            "os": self.os_name, "os_id": self.os.get("ID", ""), "os_version": self.os.get("VERSION_ID", ""),
            "kernel": self.kernel, "kernel_packages": [f"{p.name} {p.version}" for p in self.kernel_packages],
            "package_manager": self.manager, "packages": len(self.packages),
            "path": str(path), "sbom": str(sbom),
        }

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["packages"] = [[p.name, p.version, p.arch] for p in self.packages]  # a compact row each
        return {"format": FORMAT, **data}

    @classmethod
    def from_json(cls, data: Any) -> Contents:
        """Raises ValueError (or KeyError/TypeError) when `data` is not a contents record."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not a Goldsmith contents record of format {FORMAT}")
        fields = {k: data[k] for k in ("build_id", "recipe", "version", "recorded_at", "source_ami", "kernel",
                                       "machine", "manager")}
        if fields["manager"] not in ("dpkg", "rpm", "none") or not all(isinstance(v, str) for v in fields.values()):
            raise ValueError("a field has the wrong type")
        packages = [Package(str(n), str(v), str(a)) for n, v, a in data["packages"]]
        return cls(**fields, os={str(k): str(v) for k, v in data["os"].items()}, packages=packages)


def is_kernel_package(manager: Manager, name: str) -> bool:
    """linux-image-* (Debian, Ubuntu), kernel / kernel-core / kernel-default / kernel-uek (rpm family)."""
    if manager == "dpkg":
        return name.startswith("linux-image-")
    return name in ("kernel", "kernel-core", "kernel-default", "kernel-uek", "kernel-uek-core", "kernel-rt-core")


def parse_os_release(lines: list[str]) -> dict[str, str]:
    """os-release(5): KEY=value lines, values shell-quoted; comments, blanks and broken lines skipped."""
    found: dict[str, str] = {}
    for line in lines:
        key, eq, raw = line.strip().partition("=")
        if not eq or not key or key.startswith("#") or not key.replace("_", "").isalnum():
            continue
        try:
            words = shlex.split(raw)
        except ValueError:
            continue
        found[key] = " ".join(words)
    return found


def parse_dpkg(lines: list[str]) -> list[Package]:
    """dpkg-query -W -f DPKG_FORMAT: the packages whose status is installed (the abbreviation's second
    letter is `i`: `ii`, `hi`...); removed ones that kept their configuration (`rc`) are not in the image."""
    packages = set()
    for line in lines:
        parts = line.split("\t")
        if len(parts) != 4 or len(parts[0]) < 2:
            raise ValueError(f"unexpected dpkg-query line: {line!r}")
        status, name, version, arch = parts
        if status[1] == "i":
            packages.add(Package(name, version, arch))
    return sorted(packages)


def parse_rpm(lines: list[str]) -> list[Package]:
    """rpm -qa --qf RPM_FORMAT; gpg-pubkey entries (imported signing keys, not software) are left out."""
    packages = set()
    for line in lines:
        parts = line.split("\t")
        if len(parts) != 3:
            raise ValueError(f"unexpected rpm line: {line!r}")
        name, version, arch = parts
        if name != "gpg-pubkey":
            packages.add(Package(name, version, arch))
    return sorted(packages)


def _sections(lines: list[str]) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        if line.startswith(SECTION):
            current = sections.setdefault(line[len(SECTION):].strip(), [])
        elif current is not None and line.strip():
            current.append(line)
    return sections


def parse_collected(lines: list[str], *, build_id: str, recipe: str, version: str, recorded_at: str,
                    source_ami: str = "") -> Contents:
    """The contents from COLLECT_SCRIPT's output lines, for this build. Raises ValueError when the output is
    not what the script prints."""
    sections = _sections(lines)
    if "end" not in sections:
        failed = next((name for name in sections if name.startswith("failed ")), "")
        raise ValueError(f"the inventory did not finish{f' ({failed})' if failed else ''}")
    uname = [line.strip() for line in sections.get("uname", [])] + ["", ""]
    contents = Contents(build_id, recipe, version, recorded_at, source_ami,
                        os=parse_os_release(sections.get("os-release", [])), kernel=uname[0], machine=uname[1])
    if "dpkg" in sections:
        contents.manager, contents.packages = "dpkg", parse_dpkg(sections["dpkg"])
    elif "rpm" in sections:
        contents.manager, contents.packages = "rpm", parse_rpm(sections["rpm"])
    return contents


def contents_path(work_dir: Path, build_id: str) -> Path:
    return work_dir / "contents" / f"{build_id}.json"


def sbom_path(work_dir: Path, build_id: str) -> Path:
    return work_dir / "sbom" / f"{build_id}.cdx.json"


def write_contents(work_dir: Path, contents: Contents) -> tuple[Path, Path]:
    """The contents file and the CycloneDX SBOM, each written atomically; returns their paths."""
    from goldsmith.images.sbom import sbom_text

    path, sbom = contents_path(work_dir, contents.build_id), sbom_path(work_dir, contents.build_id)
    write_json_atomic(path, contents.to_json())
    sbom.parent.mkdir(parents=True, exist_ok=True)
    temp = sbom.with_name(f".{sbom.name}.tmp")
    temp.write_text(sbom_text(contents), encoding="utf-8")
    temp.replace(sbom)
    return path, sbom


def read_contents(path: Path, what: str) -> Contents:
    """A contents file; InputError (exit 2) naming `what` (the build or AMI asked for) when it is missing
    or not one."""
    try:
        return Contents.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise InputError(f"{what}: its contents were not recorded here ({path} does not exist)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{what}: {path} is not a readable contents record ({exc})") from exc
