"""The base of every recipe model and the small constrained types they share."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class StrictModel(BaseModel):
    """Unknown keys are mistakes; loaded recipes never change; numbers may be written unquoted. The
    fields' docstrings become their descriptions only when the docs are generated (recipe/field_docs.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True, defer_build=True)


Positive = Annotated[int, Field(gt=0)]
Port = Annotated[int, Field(ge=1, le=65535)]
