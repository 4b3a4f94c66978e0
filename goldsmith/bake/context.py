"""BakeContext: the services a step uses (AWS, target, recipe, journal, events), fixed for a bake."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from goldsmith.aws.ec2 import Waits
    from goldsmith.aws.session import Aws
    from goldsmith.bake.journal import Journal
    from goldsmith.bake.target import Target
    from goldsmith.recipe.loader import LoadedRecipe
    from goldsmith.report.events import Events


@dataclass(frozen=True)
class BakeOptions:
    keep_on_error: bool = False
    work_dir: Path = Path(".goldsmith")
    manifest_path: Path | None = None
    skip_validation: bool = False
    extra_suites: tuple[str, ...] = field(default_factory=tuple)


@dataclass
class BakeContext:
    aws: Aws
    target: Target
    loaded: LoadedRecipe
    journal: Journal
    events: Events
    waits: Waits
    options: BakeOptions
