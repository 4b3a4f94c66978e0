"""What every provisioner shares: the context it runs in, its base class, and how it reports failure."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Generic, Protocol, TypeVar

from goldsmith.ssh.session import SshSession

if TYPE_CHECKING:
    from goldsmith.recipe.model import FileStep, RebootStep, ShellStep, TemplateStep


class Recipe(Protocol):
    """The part of goldsmith.recipe's LoadedRecipe that provisioners use."""

    @property
    def root(self) -> Path: ...

    @property
    def variables(self) -> Mapping[str, str]: ...

    @property
    def secrets(self) -> frozenset[str]: ...

    def resolve(self, relative: str) -> Path: ...

    def render(self, template: str, **facts: str) -> str: ...


@dataclass
class ProvisionContext:
    """The live session and the recipe a step runs with; a reboot replaces ``session``."""

    session: SshSession
    reconnect: Callable[[], SshSession]
    loaded: Recipe
    facts: dict[str, str]
    log: Callable[[str], None]

    def render(self, template: str) -> str:
        """Render a recipe string (env value, inline line, destination) with variables and facts."""
        return self.loaded.render(template, **self.facts)

    @property
    def secrets(self) -> frozenset[str]:
        return self.loaded.secrets


class StepFailed(Exception):
    """Raised by a provisioner; run_provisioners turns it into a ProvisionError naming the step."""

    def __init__(self, reason: str, output_tail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.output_tail = output_tail


StepT = TypeVar("StepT", bound="ShellStep | FileStep | TemplateStep | RebootStep")


class Provisioner(ABC, Generic[StepT]):
    """One provision step of a recipe, bound to its model; subclasses implement :meth:`run`."""

    kind: ClassVar[str]

    def __init__(self, step: StepT) -> None:
        self.step = step

    @abstractmethod
    def run(self, ctx: ProvisionContext) -> None:
        """Do the step's work on ``ctx.session``; raise StepFailed with a reason on failure."""


def parse_mode(mode: str | None) -> int | None:
    """``"0644"`` -> 0o644 (the schema already checked the format)."""
    return None if mode is None else int(mode, 8)
