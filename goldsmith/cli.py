"""The `goldsmith` console script: the package's own task collection (goldsmith.tasks) bundled in an invoke
Program, so it works from any directory, with or without a tasks.py (invoke's "library" pattern).

Bad arguments exit 2, like every other kind of bad input (see goldsmith.tasks.exit_2_on_parse_errors).
Config is invoke's: the collection's defaults, /etc/invoke.yaml, ~/.invoke.yaml, the nearest project
invoke.yaml (as `invoke` reads the one beside tasks.py), INVOKE_GOLDSMITH_<KEY> variables, then flags.
"""

from __future__ import annotations

from pathlib import Path

from invoke.collection import Collection
from invoke.program import Program

import goldsmith.tasks
from goldsmith import __version__
from goldsmith.tasks import exit_2_on_parse_errors

__all__ = ["GoldsmithProgram", "exit_2_on_parse_errors", "main", "project_dir"]

PROJECT_MARKERS = ("invoke.yaml", "invoke.yml", "invoke.json", "invoke.py", "tasks.py")


def project_dir(start: Path) -> Path | None:
    """The first of `start` and its parents holding a project marker (invoke config or tasks.py), else None."""
    start = start.resolve()
    for directory in (start, *start.parents):
        if any((directory / marker).is_file() for marker in PROJECT_MARKERS):
            return directory
    return None


class GoldsmithProgram(Program):
    """invoke's Program with the bundled collection; also reads the project's invoke.yaml, as `invoke` does."""

    def parse_collection(self) -> None:
        super().parse_collection()
        project = project_dir(Path.cwd())
        if project is not None:
            self.config.set_project_location(str(project))
            self.config.load_project()


def main() -> None:
    exit_2_on_parse_errors()
    GoldsmithProgram(name="Goldsmith", binary="goldsmith", binary_names=["goldsmith"], version=__version__,
                     namespace=Collection.from_module(goldsmith.tasks)).run()
