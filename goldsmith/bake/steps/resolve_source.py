"""Resolve the source AMI: an id, a filter (newest wins), or the newest image of another recipe."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from goldsmith.aws import ec2 as ec2ops
from goldsmith.aws.tags import SOURCE_AMI_TAG

if TYPE_CHECKING:
    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.state import BuildState

_TEMPLATE = re.compile(r"{{.*?}}|{%.*?%}")


def name_pattern(name_template: str) -> str:
    """An image name template as a describe_images wildcard: every template expression becomes '*'."""
    return re.sub(r"\*+", "*", _TEMPLATE.sub("*", name_template))


class ResolveSource:
    name = "resolve-source"

    def run(self, state: BuildState, ctx: BakeContext) -> None:
        source = ctx.loaded.recipe.source
        ec2 = ctx.aws.ec2(state.region)
        image: dict[str, Any]
        if source.id:
            image = ec2ops.describe_image(ec2, source.id)
        elif source.filter:
            f = source.filter
            image = ec2ops.find_newest_image(ec2, name=f.name, owners=f.owners, architecture=f.architecture)
        else:
            assert source.recipe is not None
            from goldsmith.recipe.loader import load_recipe

            other = load_recipe(ctx.loaded.root / "recipes" / f"{source.recipe}.yaml")
            image = ec2ops.find_newest_image(
                ec2,
                name=name_pattern(other.recipe.image.name),
                owners=["self"],
                architecture=other.recipe.source.filter.architecture if other.recipe.source.filter else "x86_64",
            )
        state.source_image = image
        state.facts["source_ami"] = image["ImageId"]
        state.facts["source_ami_name"] = image.get("Name", "")
        state.tags[SOURCE_AMI_TAG] = image["ImageId"]
        ctx.events.info(f"source AMI {image['ImageId']} ({image.get('Name', '')})")

    def cleanup(self, state: BuildState, ctx: BakeContext) -> None:
        return None
