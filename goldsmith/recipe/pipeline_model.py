"""The pipeline schema: a family of recipes baked together, with per-recipe overrides.

A pipeline names recipes; a recipe whose `source.recipe` is another recipe of the pipeline waits for it
and builds on the AMI that bake produced. docs/pipeline-reference.md is generated from these models.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, field_validator

from goldsmith.recipe import formats
from goldsmith.recipe.model import VariableName
from goldsmith.recipe.strict import StrictModel


def _recipe_name(value: str) -> str:
    if not formats.RECIPE_NAME_RE.fullmatch(value):
        raise formats.FieldProblem(f"{value!r} is not a name: lowercase letters, digits and '-', at most 63")
    return value


RecipeName = Annotated[str, AfterValidator(_recipe_name)]


class PipelineRecipe(StrictModel):
    """One recipe of the pipeline and what the pipeline changes in it."""

    recipe: str
    """The recipe: a name (recipes/NAME.yaml or .yml under the project root) or a path relative to the
    project root (recipes/web.yaml). It is known in the pipeline by its own `name:`."""
    after: list[RecipeName] = []
    """Other recipes of this pipeline that must finish first, besides the one its `source.recipe` names
    (which it always waits for)."""
    variables: dict[VariableName, str] = {}
    """Values for the recipe's variables (each must be declared by the recipe); they act like --var
    (over the recipe's defaults and GOLDSMITH_VAR_*); a --var given to `invoke pipeline` wins."""
    regions: list[str] | None = None
    """Replaces the recipe's image.regions (the regions the image is copied to)."""
    accounts: list[str] | None = None
    """Replaces the recipe's image.share.accounts (12-digit account ids that may launch the image)."""

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            formats.regions(value)
        return value

    @field_validator("accounts")
    @classmethod
    def _accounts(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else formats.account_ids(value)


class Pipeline(StrictModel):
    """A family of recipes baked in one command: dependencies, concurrency and shared values."""

    name: RecipeName
    """The pipeline's name (run ids and the run manifest carry it)."""
    description: str = ""
    """What the pipeline produces, for people."""
    concurrency: Annotated[int, Field(ge=1, le=64)] = 4
    """How many bakes may run at once (`invoke pipeline --concurrency` overrides it)."""
    variables: dict[VariableName, str] = {}
    """Values for every recipe that declares a variable of that name (a recipe's own `variables` entry wins)."""
    recipes: Annotated[list[PipelineRecipe], Field(min_length=1)]
    """The recipes, in any order: each starts when those it depends on have their image."""
    channels: list[str] = []
    """Channels to point at each recipe's image once every recipe of the run has one (baked or reused), in
    every region the image is in: the SSM parameters <channel_prefix>/<recipe>/<channel> (see `invoke
    promote`). A run with a failed recipe promotes nothing."""

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: list[str]) -> list[str]:
        for i, name in enumerate(value):
            if not formats.CHANNEL_RE.fullmatch(name):
                raise formats.FieldProblem(f"channel {name!r}: use 1-64 letters, digits, '.', '-' or '_' (like "
                                           "stable, candidate)", i)
        if len(set(value)) != len(value):
            raise formats.FieldProblem("a channel is listed twice")
        return value
