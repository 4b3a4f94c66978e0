"""Finding images: a recipe's source AMI, and the newest AMI a recipe has produced."""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.aws import ec2 as ec2ops
from goldsmith.aws.image_search import newest_validated_image
from goldsmith.errors import InputError, PreflightError, RecipeError
from goldsmith.recipe.templating import name_pattern

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import ImageTypeDef

    from goldsmith.aws.session import Aws
    from goldsmith.recipe.loader import LoadedRecipe
    from goldsmith.recipe.model import Recipe


def newest_image_of(ec2: EC2Client, recipe: Recipe) -> ImageTypeDef:
    """The newest of this account's AMIs whose name the recipe's image.name template can produce.

    Images tagged goldsmith:validation=failed (kept by ``validate.on_failure: keep``) are skipped.
    """
    architecture = recipe.source.filter.architecture if recipe.source.filter else "x86_64"
    return newest_validated_image(ec2, name=name_pattern(recipe.image.name), owners=["self"],
                                  architecture=architecture, hint=": bake that recipe first")


def channel_image(aws: Aws, region: str, loaded: LoadedRecipe, prefix: str) -> ImageTypeDef:
    """The AMI `source: {recipe: R, channel: C}` names: the channel's value in the build region, which must be
    available (a channel still naming a deregistered or disabled AMI fails the preflight)."""
    from goldsmith.images.channels import Where, image_problem, resolve

    source = loaded.recipe.source
    assert source.recipe is not None and source.channel is not None
    try:
        image_id = resolve(aws, region, source.recipe, source.channel, Where(prefix=prefix))
    except InputError as exc:
        raise PreflightError(f"source.channel: {exc}") from exc
    problem = image_problem(aws, region, image_id)
    if problem:
        raise PreflightError(f"source.channel: channel '{source.channel}' of recipe '{source.recipe}' names "
                             f"{problem}; promote another image or roll the channel back")
    return ec2ops.describe_image(aws.ec2(region), image_id)


def source_image(ec2: EC2Client, loaded: LoadedRecipe) -> ImageTypeDef:
    """The recipe's source: an AMI id, a filter (newest wins), or the newest AMI of another recipe."""
    source = loaded.recipe.source
    if source.id:
        return ec2ops.describe_image(ec2, source.id)
    if source.filter:
        f = source.filter
        return newest_validated_image(ec2, name=f.name, owners=f.owners, architecture=f.architecture)
    assert source.recipe is not None
    from goldsmith.recipe.loader import load_recipe, source_recipe_path

    try:
        path = source_recipe_path(loaded.root, source.recipe)  # the same file `invoke check` found
    except InputError as exc:
        raise PreflightError(f"source.recipe: {exc}") from exc
    try:
        other = load_recipe(path)
    except RecipeError as exc:
        raise PreflightError(f"source.recipe '{source.recipe}' ({path}) does not load:\n{exc}") from exc
    return newest_image_of(ec2, other.recipe)
