"""Provision steps of a recipe: a union discriminated by `type`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from goldsmith.recipe import formats
from goldsmith.recipe.strict import Positive, StrictModel


def _mode(value: Any) -> Any:
    """YAML reads 0644 as the number 420; insist on a quoted string so the mode is what was meant."""
    if isinstance(value, int) and not isinstance(value, bool):
        message = f"write the mode as a quoted string like '0644' (YAML read {value} as a number)"
        raise formats.FieldProblem(message)
    return value


def _check_mode(value: str | None) -> str | None:
    return value and formats.check(formats.MODE_RE, value, "file mode", "0644")


def _check_owner(value: str | None) -> str | None:
    return value and formats.check(formats.OWNER_RE, value, "owner", "root:root")


def _check_destination(value: str) -> str:
    return formats.absolute_path(value, "destination")


Mode = Annotated[str | None, BeforeValidator(_mode), AfterValidator(_check_mode)]
Owner = Annotated[str | None, AfterValidator(_check_owner)]
Destination = Annotated[str, AfterValidator(_check_destination)]


class ShellStep(StrictModel):
    """Run commands on the build instance: `inline` lines or a `script` file (exactly one)."""

    type: Literal["shell"]
    """Always `shell` for this kind of step."""
    name: str = ""
    """Shown in progress and errors."""
    inline: list[str] | None = None
    """Commands (templates), run by /bin/sh -e as one script."""
    script: str | None = None
    """A script file relative to the project root, uploaded and run."""
    env: dict[str, str] = {}
    """Environment variables (values are templates)."""
    sudo: bool = True
    """Run as root through sudo."""
    timeout: Positive = 1800
    """Seconds the step may take."""
    idempotent: bool = False
    """Safe to run twice: if the SSH connection drops while it runs, it is run again on a new connection
    instead of failing the bake."""

    @model_validator(mode="after")
    def _one_of(self) -> ShellStep:
        if (self.inline is None) == (self.script is None):
            detail = "got both" if self.inline is not None else "none given"
            raise formats.FieldProblem(f"give exactly one of inline or script ({detail})")
        if self.inline is not None and not self.inline:
            raise formats.FieldProblem("inline has no commands", "inline")
        return self


class FileStep(StrictModel):
    """Upload a file or directory to the build instance."""

    type: Literal["file"]
    """Always `file` for this kind of step."""
    name: str = ""
    """Shown in progress and errors."""
    source: str
    """File or directory relative to the project root."""
    destination: Destination
    """Absolute path on the instance (template). For a file: ending in `/` or naming an existing directory,
    the file lands in it under its own name. For a directory: its contents are copied into this one."""
    mode: Mode = None
    """Octal mode as a quoted string, e.g. '0644'."""
    owner: Owner = None
    """user or user:group."""
    timeout: Positive = 1800
    """Seconds the step may take."""


class TemplateStep(StrictModel):
    """Render a jinja2 template file and upload the result."""

    type: Literal["template"]
    """Always `template` for this kind of step."""
    name: str = ""
    """Shown in progress and errors."""
    source: str
    """Template file relative to the project root (usually under templates/)."""
    destination: Destination
    """Absolute path on the instance (template); ending in `/` or naming an existing directory, the result
    lands in it under the template's name without its `.j2`/`.jinja`/`.jinja2` suffix."""
    mode: Mode = None
    """Octal mode as a quoted string, e.g. '0644'."""
    owner: Owner = None
    """user or user:group."""
    variables: dict[str, str] = {}
    """Extra names for this template (values are templates over the recipe's variables and facts)."""
    timeout: Positive = 600
    """Seconds the step may take."""


class RebootStep(StrictModel):
    """Reboot the build instance and wait for SSH again."""

    type: Literal["reboot"]
    """Always `reboot` for this kind of step."""
    name: str = ""
    """Shown in progress and errors."""
    timeout: Positive = 600
    """Seconds the instance may take to go down after the reboot command; coming back is bounded by
    build.timeouts.ssh."""


ProvisionStep = Annotated[ShellStep | FileStep | TemplateStep | RebootStep, Field(discriminator="type")]
StepType = Literal["shell", "file", "template", "reboot"]
"""The `type` of a provision step (a Provisioner's ``kind``)."""
