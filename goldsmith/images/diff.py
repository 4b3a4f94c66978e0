"""`invoke diff OLD NEW`: what changed inside an image between two builds, from the contents their bakes
recorded (goldsmith.images.contents). Packages added, removed, upgraded and downgraded (versions compared
as the package manager does: goldsmith.images.versions), and the OS and kernel.

Each side is a build id, an AMI id (of any region the build reached) or RECIPE@VERSION (the newest
successful build of that version), looked up in the manifests of the work dir (WORK_DIR/manifests/*.json,
where every bake and pipeline run writes one, plus any --manifest given): no AWS call. A build cache hit
(a manifest entry with "reused": true) stands for the build it reused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from goldsmith.errors import InputError
from goldsmith.images.contents import Contents, Package, contents_path, is_kernel_package, read_contents
from goldsmith.images.versions import compare

__all__ = ["Change", "Diff", "PackageDiff", "Side", "diff_packages", "load_manifest_builds", "resolve"]

AMI_RE = re.compile(r"ami-[0-9a-f]{8,17}")
BUILD_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class Side:
    """One side of a diff: what was asked for, the build it names, and that build's contents."""

    reference: str
    contents: Contents
    images: dict[str, str] = field(default_factory=dict)  # region -> AMI id, when a manifest says

    def describe(self) -> str:
        c = self.contents
        amis = ", ".join(f"{region}:{ami}" for region, ami in sorted(self.images.items()))
        return f"{c.recipe} {c.version}, build {c.build_id}" + (f", {amis}" if amis else "")

    def to_json(self) -> dict[str, Any]:
        c = self.contents
        return {"reference": self.reference, "build_id": c.build_id, "recipe": c.recipe, "version": c.version,
                "images": self.images, "os": c.os_name, "os_id": c.os.get("ID", ""),
                "os_version": c.os.get("VERSION_ID", ""), "kernel": c.kernel, "package_manager": c.manager,
                "packages": len(c.packages)}


def load_manifest_builds(work_dir: Path, extra: Sequence[Path] = ()) -> list[dict[str, Any]]:
    """Every build entry of the work dir's manifests and of the extra manifest files (those must exist)."""
    entries: list[dict[str, Any]] = []
    for path in extra:
        if not path.is_file():
            raise InputError(f"--manifest {path}: no such manifest file")
    for path in [*sorted((work_dir / "manifests").glob("*.json")), *extra]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            if path in extra:
                raise InputError(f"--manifest {path}: not a readable manifest ({exc})") from exc
            continue  # another tool's file, or one being written: the others still count
        builds = data.get("builds") if isinstance(data, dict) else None
        entries += [b for b in builds or [] if isinstance(b, dict) and isinstance(b.get("build_id"), str)]
    return entries


def _images(entry: dict[str, Any]) -> dict[str, str]:
    artifacts = entry.get("artifacts") or {}
    return {r: str(a.get("ami_id", "")) for r, a in artifacts.items() if isinstance(a, dict) and a.get("ami_id")}


def _newest(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The newest entry, a succeeded one if any succeeded."""
    return max(entries, key=lambda e: (e.get("outcome") == "succeeded", e.get("build_time", 0), e["build_id"]))


def _side(reference: str, entry: dict[str, Any] | None, build_id: str, work_dir: Path) -> Side:
    """The side for a manifest entry (a reused build stands for the build it reused) or a bare build id."""
    if entry is not None:
        build_id = entry.get("reused_from") or entry["build_id"]
        recorded = (entry.get("contents") or {}).get("path")
        if not recorded and not entry.get("reused") and not contents_path(work_dir, build_id).exists():
            raise InputError(f"{reference}: build {build_id} recorded no contents (baked by a Goldsmith without "
                             f"record-contents, or it failed before that step)")
    path = contents_path(work_dir, build_id)
    what = reference if reference == build_id else f"{reference} (build {build_id})"
    return Side(reference, read_contents(path, what), _images(entry) if entry else {})


def resolve(reference: str, work_dir: Path, entries: list[dict[str, Any]]) -> Side:
    """The build `reference` names (AMI id, RECIPE@VERSION or build id) with its contents; InputError (exit 2)
    when it names nothing known here or its contents were not recorded."""
    reference = reference.strip()
    where = f"the manifests in {work_dir / 'manifests'}"
    if AMI_RE.fullmatch(reference):
        named = [e for e in entries if reference in _images(e).values()]
        if not named:
            raise InputError(f"{reference}: no manifest names this AMI ({where}; give --manifest PATH for one kept "
                             f"elsewhere)")
        return _side(reference, _newest(named), "", work_dir)
    if "@" in reference:
        recipe, _, version = reference.partition("@")
        if not recipe or not version:
            raise InputError(f"{reference!r}: give RECIPE@VERSION, like base@1.0.0")
        of_recipe = [e for e in entries if e.get("recipe") == recipe]
        if not of_recipe:
            raise InputError(f"{reference}: no build of recipe {recipe!r} in {where}")
        matching = [e for e in of_recipe if e.get("version") == version and e.get("outcome") == "succeeded"]
        if not matching:
            known = sorted({str(e.get("version")) for e in of_recipe if e.get("outcome") == "succeeded"})
            raise InputError(f"{reference}: recipe {recipe} has no successful build of version {version} "
                             f"(known: {', '.join(known) or 'none'})")
        return _side(reference, _newest(matching), "", work_dir)
    if not BUILD_RE.fullmatch(reference):
        raise InputError(f"{reference!r}: give a build id, an AMI id (ami-...) or RECIPE@VERSION")
    named = [e for e in entries if e["build_id"] == reference]
    if named or contents_path(work_dir, reference).exists():
        return _side(reference, _newest(named) if named else None, reference, work_dir)
    raise InputError(f"{reference}: unknown build: no manifest in {work_dir / 'manifests'} names it and no "
                     f"contents were recorded for it in {contents_path(work_dir, reference).parent}")


@dataclass(frozen=True)
class Change:
    name: str
    arch: str
    old: str
    new: str


@dataclass
class PackageDiff:
    added: list[Package] = field(default_factory=list)
    removed: list[Package] = field(default_factory=list)
    upgraded: list[Change] = field(default_factory=list)
    downgraded: list[Change] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in asdict(self).items()}

    def only(self, names: Iterable[str]) -> PackageDiff:
        keep = set(names)
        return PackageDiff([p for p in self.added if p.name in keep], [p for p in self.removed if p.name in keep],
                           [c for c in self.upgraded if c.name in keep], [c for c in self.downgraded if c.name in keep])


def _by_name(packages: list[Package]) -> dict[str, list[Package]]:
    grouped: dict[str, list[Package]] = {}
    for p in packages:
        grouped.setdefault(p.name, []).append(p)
    return grouped


def _pair(olds: list[Package], news: list[Package]) -> list[tuple[Package | None, Package | None]]:
    """A name's packages on both sides, paired: one each (the architecture may have changed, as from
    `all` to `amd64`), else by architecture (multiarch: libc6:amd64 and libc6:i386)."""
    if len(olds) == 1 and len(news) == 1:
        return [(olds[0], news[0])]
    old_by, new_by = {p.arch: p for p in olds}, {p.arch: p for p in news}
    return [(old_by.get(arch), new_by.get(arch)) for arch in sorted(old_by.keys() | new_by.keys())]


def diff_packages(old: Contents, new: Contents) -> PackageDiff:
    """Added, removed, upgraded and downgraded packages; versions compared with the new image's package
    manager's rules."""
    result = PackageDiff()
    olds, news = _by_name(old.packages), _by_name(new.packages)
    for name in sorted(olds.keys() | news.keys()):
        for before, after in _pair(olds.get(name, []), news.get(name, [])):
            if before is None or after is None:
                result.added += [after] if after else []
                result.removed += [before] if before else []
                continue
            order = compare(new.manager if new.manager != "none" else old.manager, before.version, after.version)
            if order < 0:
                result.upgraded.append(Change(name, after.arch, before.version, after.version))
            elif order > 0:
                result.downgraded.append(Change(name, after.arch, before.version, after.version))
            elif before.arch != after.arch:
                result.removed.append(before)
                result.added.append(after)
    return result


@dataclass
class Diff:
    old: Side
    new: Side
    packages: PackageDiff

    @classmethod
    def of(cls, old: Side, new: Side) -> Diff:
        return cls(old, new, diff_packages(old.contents, new.contents))

    def kernel_packages(self) -> PackageDiff:
        names = {p.name for c in (self.old.contents, self.new.contents) for p in c.packages
                 if is_kernel_package(c.manager, p.name)}
        return self.packages.only(names)

    def to_json(self) -> dict[str, Any]:
        o, n = self.old.contents, self.new.contents
        return {
            "old": self.old.to_json(), "new": self.new.to_json(),
            "os": {"old": o.os_name, "new": n.os_name, "changed": o.os != n.os},
            "kernel": {"old": o.kernel, "new": n.kernel, "changed": o.kernel != n.kernel,
                       "packages": asdict(self.kernel_packages())},
            "packages": asdict(self.packages),
            "counts": self.packages.counts(),
        }

    def text(self) -> str:
        o, n = self.old.contents, self.new.contents
        lines = [f"old: {self.old.describe()}", f"new: {self.new.describe()}",
                 _change_line("os", o.os_name, n.os_name), _change_line("kernel", o.kernel, n.kernel)]
        kernel = self.kernel_packages()
        if any(kernel.counts().values()):
            lines.append("kernel packages: " + ", ".join(_short(kernel)))
        counts = ", ".join(f"{v} {k}" for k, v in self.packages.counts().items())
        lines.append(f"packages: {len(o.packages)} -> {len(n.packages)}: {counts}")
        lines += [f"  + {p.name} {p.version} ({p.arch})" for p in self.packages.added]
        lines += [f"  - {p.name} {p.version} ({p.arch})" for p in self.packages.removed]
        lines += [f"  ^ {c.name} {c.old} -> {c.new} ({c.arch})" for c in self.packages.upgraded]
        lines += [f"  v {c.name} {c.old} -> {c.new} ({c.arch}) DOWNGRADED" for c in self.packages.downgraded]
        return "\n".join(lines)


def _change_line(label: str, old: str, new: str) -> str:
    return f"{label}: {old or '?'} -> {new or '?'}" if old != new else f"{label}: {new or '?'} (unchanged)"


def _short(d: PackageDiff) -> list[str]:
    return ([f"+{p.name} {p.version}" for p in d.added] + [f"-{p.name} {p.version}" for p in d.removed]
            + [f"{c.name} {c.old} -> {c.new}" for c in [*d.upgraded, *d.downgraded]])
