"""Building blocks shared by the event payload models."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainSerializer

__all__ = ["ContractModel", "JsonDecimal"]


class ContractModel(BaseModel):
    """Base of every payload: immutable, unknown fields rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _fixed_point(value: Decimal) -> str:
    # Plain notation ("100", not "1E+2") so the string matches the schema's decimal pattern.
    return format(value, "f")


JsonDecimal = Annotated[Decimal, PlainSerializer(_fixed_point, return_type=str, when_used="json")]
"""A Decimal written to JSON as a fixed-point string, never a float."""
