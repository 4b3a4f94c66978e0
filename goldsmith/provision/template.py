"""The template provisioner: render a jinja2 file with the recipe's variables and upload the result.

Templates are loaded from the project (the template's own folder, then ``templates/``, then the
root), so ``{% include %}`` and ``{% extends %}`` work; StrictUndefined makes a misspelt name fail the
step instead of baking an empty string into the image.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from goldsmith.provision.base import ProvisionContext, Provisioner, StepFailed, parse_mode
from goldsmith.recipe.model import TemplateStep


def template_environment(root: Path, source: Path) -> jinja2.Environment:
    """A strict, sandboxed environment that finds includes next to the template and in templates/."""
    search = [source.parent, root / "templates", root]
    return SandboxedEnvironment(
        loader=jinja2.FileSystemLoader([str(path) for path in search if path.is_dir()]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


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
        destination = ctx.render(self.step.destination)
        ctx.log(f"rendering {self.step.source} to {destination}")
        ctx.session.upload_bytes(text.encode(), destination, mode=parse_mode(self.step.mode), owner=self.step.owner)
