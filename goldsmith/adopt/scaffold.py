"""`goldsmith init [DIR]`: a new Goldsmith project, in an empty or existing directory.

Never overwrites: a file (or anything else, even a dangling symlink) already at a path of the scaffold is
left alone and listed as skipped. Everything is checked before anything is written, so bad input (DIR is a
file, a scaffold directory is a file) writes nothing and exits 2; so does a directory that already holds every
file of the scaffold (there is nothing to do, and saying "done" would hide that nothing of ours is there).
Files are created with O_EXCL, so a file appearing meanwhile is never clobbered either.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from goldsmith.adopt import workflow
from goldsmith.errors import InputError
from goldsmith.pipeline.export import default_install

# Project path -> template under goldsmith/adopt/scaffold/ (package data; ".tmpl" keeps the templates out of
# the package's own imports, linters and type checks). None: generated (the workflow).
FILES: dict[str, str | None] = {
    "tasks.py": "tasks.py.tmpl",
    "invoke.yaml": "invoke.yaml.tmpl",
    ".gitignore": "gitignore.tmpl",
    "recipes/example.yaml": "example.yaml.tmpl",
    "provisioners/example.sh": "example.sh.tmpl",
    "templates/.gitkeep": "gitkeep.tmpl",
    "files/.gitkeep": "gitkeep.tmpl",
    "tests/images/conftest.py": "images_conftest.py.tmpl",
    "tests/images/test_example.py": "test_example.py.tmpl",
    "pipelines/example.yaml": "pipeline.yaml.tmpl",
    workflow.PATH: None,
}
EXECUTABLE = {"provisioners/example.sh"}


@dataclass
class InitResult:
    """What `init` did, as paths relative to the project directory."""

    directory: Path
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"initialised a Goldsmith project in {self.directory}: {len(self.written)} files written"]
        lines += [f"  wrote   {path}" for path in self.written]
        lines += [f"  skipped {path} (exists; left as it is)" for path in self.skipped]
        lines.append("next: goldsmith check recipes/example.yaml && goldsmith bake recipes/example.yaml")
        return "\n".join(lines)


def content(relative: str, directory: Path) -> str:
    """The text `init` writes at this project path of `directory`."""
    template = FILES[relative]
    if template is None:
        return workflow.text("pipelines/example.yaml", "example", default_install(directory))
    return resources.files("goldsmith.adopt").joinpath("scaffold", template).read_text(encoding="utf-8")


def _exists(path: Path) -> bool:
    return os.path.lexists(path)


def _check(directory: Path) -> list[str]:
    """Scaffold paths already taken, or InputError when a path we need as a directory is not one."""
    if _exists(directory) and not directory.is_dir():
        raise InputError(f"{directory}: not a directory (goldsmith init needs a new or existing directory)")
    taken = []
    for relative in FILES:
        target = directory / relative
        for parent in reversed(target.relative_to(directory).parents[:-1]):
            folder = directory / parent
            if _exists(folder) and not folder.is_dir():
                raise InputError(f"{folder}: not a directory, but goldsmith init needs one there for {relative}")
        if _exists(target):
            if target.is_dir() and not target.is_symlink():
                raise InputError(f"{target}: a directory, but goldsmith init writes a file there")
            taken.append(relative)
    return taken


def init(directory: Path) -> InitResult:
    """Write every scaffold file that is not there yet; the rest are listed as skipped."""
    taken = _check(directory)
    if len(taken) == len(FILES):
        raise InputError(f"{directory}: already holds every file goldsmith init writes ({', '.join(taken)}); "
                         "nothing written")
    result = InitResult(directory=directory, skipped=taken)
    for relative in FILES:
        if relative in taken:
            continue
        target = directory / relative
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{target.parent}: cannot create the directory ({exc.strerror})") from exc
        mode = 0o755 if relative in EXECUTABLE else 0o644
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            result.skipped.append(relative)
            continue
        except OSError as exc:
            raise InputError(f"{target}: cannot write ({exc.strerror})") from exc
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(content(relative, directory))
        os.chmod(target, stat.S_IMODE(mode))  # the umask may have taken bits away from the script's x
        result.written.append(relative)
    return result
