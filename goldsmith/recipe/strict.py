"""The base of every recipe model and the small constrained types they share."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class StrictModel(BaseModel):
    """Unknown keys are mistakes; loaded recipes never change; numbers may be written unquoted."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, coerce_numbers_to_str=True, use_attribute_docstrings=True
    )


Positive = Annotated[int, Field(gt=0)]
Port = Annotated[int, Field(ge=1, le=65535)]
