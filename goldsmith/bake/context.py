"""BakeContext: the services a step uses (AWS, target, journal, events, cancellation), fixed for a run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from goldsmith.engine.cancel import CancelToken

if TYPE_CHECKING:
    from goldsmith.aws.ec2 import Waits
    from goldsmith.aws.session import Aws
    from goldsmith.engine.journal import Journal
    from goldsmith.recipe.loader import LoadedRecipe
    from goldsmith.report.events import Events
    from goldsmith.targets.base import Target


@dataclass(frozen=True)
class BakeOptions:
    keep_on_error: bool = False
    work_dir: Path = Path(".goldsmith")
    manifest_path: Path | None = None
    extra_suites: tuple[str, ...] = field(default_factory=tuple)
    # Reuse an image an earlier bake made from the same inputs (the build cache; `invoke bake` turns it on
    # unless --force). Off by default for callers of the API, who ask for it.
    use_cache: bool = False


@dataclass
class MachineContext:
    """What the instance steps need: enough to launch, reach and remove an instance of any role.

    `invoke validate` runs on this alone (it may have no recipe)."""

    aws: Aws
    target: Target
    journal: Journal
    events: Events
    waits: Waits  # carries `cancel`, so every AWS wait stops when the run is cancelled
    options: BakeOptions
    cancel: CancelToken = field(default_factory=CancelToken, kw_only=True)


@dataclass
class BakeContext(MachineContext):
    """A bake's context: the machine services plus the loaded recipe."""

    loaded: LoadedRecipe
