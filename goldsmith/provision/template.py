"""The template provisioner: render a jinja2 file with the recipe's variables and upload the result.

Templates are loaded from the project (the template's own folder, then ``templates/``, then the
root), so ``{% include %}`` and ``{% extends %}`` work; StrictUndefined makes a misspelt name fail the
step instead of baking an empty string into the image. A destination ending in ``/`` or naming an
existing directory receives the result under the template's name without a ``.j2``/``.jinja``/``.jinja2``
suffix (``templates/motd.j2`` with ``destination: /etc/`` gives ``/etc/motd``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from goldsmith.provision.base import ProvisionContext, Provisioner, StepFailed, parse_mode
from goldsmith.recipe.model import TemplateStep

TEMPLATE_SUFFIXES = (".jinja2", ".jinja", ".j2")


class ProjectLoader(jinja2.FileSystemLoader):
    """A FileSystemLoader that refuses templates whose real path (symlinks followed) leaves the root.

    Whatever an ``{% include %}`` reads ends up on the instance, so a link to ~/.aws/credentials
    must not be readable through it.
    """

    def __init__(self, root: Path, search: list[Path]) -> None:
        super().__init__([str(path) for path in search if path.is_dir()])
        self.root = root.resolve()

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        try:
            real = Path(filename).resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            raise jinja2.TemplateError(f"cannot follow template {template!r}: {exc}") from exc
        if not real.is_relative_to(self.root):
            raise jinja2.TemplateError(
                f"template {template!r} resolves outside the project root ({real} is not under {self.root})"
            )
        return source, filename, uptodate


def template_environment(root: Path, source: Path) -> jinja2.Environment:
    """A strict, sandboxed environment that finds includes next to the template and in templates/."""
    search = [source.parent, root / "templates", root]
    return SandboxedEnvironment(
        loader=ProjectLoader(root, search),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def rendered_name(source: str) -> str:
    """The file name a template renders to inside a destination directory: ``motd.j2`` -> ``motd``."""
    name = PurePosixPath(source).name
    for suffix in TEMPLATE_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


class TemplateProvisioner(Provisioner[TemplateStep]):
    """Renders ``source`` with variables + facts + the step's own variables, uploads it (0644 default)."""

    kind = "template"

    def render(self, ctx: ProvisionContext) -> str:
        source = ctx.loaded.resolve(self.step.source)
        if not source.is_file():
            raise StepFailed(f"failed: template {self.step.source} not found (looked at {source})")
        context: dict[str, str] = {**ctx.loaded.variables, **ctx.facts}
        context.update({key: ctx.render(value) for key, value in self.step.variables.items()})
        env = template_environment(ctx.loaded.root, source)
        try:
            return env.from_string(source.read_text()).render(context)
        except jinja2.TemplateSyntaxError as exc:
            raise StepFailed(f"failed: {self.step.source}:{exc.lineno}: {exc.message}") from exc
        except jinja2.UndefinedError as exc:
            raise StepFailed(
                f"failed: {self.step.source}: {exc.message} (known names: {', '.join(sorted(context))})"
            ) from exc
        except jinja2.TemplateError as exc:
            raise StepFailed(f"failed: {self.step.source}: {exc}") from exc

    def run(self, ctx: ProvisionContext) -> None:
        text = self.render(ctx)
        destination = ctx.destination(self.step.destination)
        ctx.log(f"rendering {self.step.source} to {destination}")
        ctx.session.upload_bytes(
            text.encode(),
            destination,
            mode=parse_mode(self.step.mode),
            owner=self.step.owner,
            name=rendered_name(self.step.source),
        )
