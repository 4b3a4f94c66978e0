"""BakeContext: the services a step uses (AWS, target, journal, events, cancellation), fixed for a run."""

from __future__ import annotations

from collections.abc import Callable
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
    source_image_id: str | None = None
    """Build on this AMI instead of resolving the recipe's source (a pipeline's upstream image of this run)."""
    on_image_ready: Callable[[str, str], None] | None = None
    """Called with (region, AMI id) once the image is registered and has passed validation in the build
    region, before copies and sharing: a pipeline starts the recipes built on it then."""
    on_image_withdrawn: Callable[[str, str], None] | None = None
    """Called with (region, AMI id) when a failing or cancelled bake is about to remove the image it
    announced: a pipeline cancels the bakes built on it first, so they stop before its snapshots go."""
    # Reuse an image an earlier bake made from the same inputs (the build cache; `invoke bake` turns it on
    # unless --force). Off by default for callers of the API, who ask for it.
    use_cache: bool = False
    channel_prefix: str = "/goldsmith"
    """Channels (image.channel, source.channel) are the SSM parameters <channel_prefix>/<recipe>/<channel>."""


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
