"""The file provisioner: upload one file or a directory tree from the project to the instance."""

from __future__ import annotations

from goldsmith.provision.base import ProvisionContext, Provisioner, StepFailed, parse_mode
from goldsmith.recipe.model import FileStep


class FileProvisioner(Provisioner[FileStep]):
    """A file lands at ``destination`` with ``mode``/``owner`` (root's unless given); a ``destination``
    ending in ``/`` or naming an existing directory receives it under the source's name. A directory's
    contents are copied into ``destination`` keeping their modes (``mode`` then applies to nothing and
    is reported)."""

    kind = "file"

    def run(self, ctx: ProvisionContext) -> None:
        source = ctx.loaded.resolve(self.step.source)
        destination = ctx.destination(self.step.destination)
        if source.is_dir():
            if self.step.mode is not None:
                ctx.log(f"note: mode {self.step.mode} is ignored for a directory; files keep their own modes")
            ctx.log(f"uploading directory {self.step.source} to {destination}")
            ctx.session.upload_tree(source, destination, owner=self.step.owner)
        elif source.is_file():
            ctx.log(f"uploading {self.step.source} to {destination}")
            ctx.session.upload_file(source, destination, mode=parse_mode(self.step.mode), owner=self.step.owner)
        else:
            raise StepFailed(f"failed: source {self.step.source} not found (looked at {source})")
