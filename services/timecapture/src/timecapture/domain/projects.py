"""Projects: what time is logged against, how it is rounded, and its budget."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

RoundingMode = Literal["up", "nearest", "down"]
ROUNDING_INCREMENTS = (1, 6, 15, 30)


@dataclass(frozen=True, slots=True)
class Project:
    """`manager_ids` are members who may log and edit time of anyone on the project."""

    tenant_id: UUID
    id: UUID
    client_id: UUID
    name: str
    code: str | None
    billable_by_default: bool
    budget_hours: Decimal | None
    budget_amount_minor: int | None
    rounding_increment_minutes: int
    rounding_mode: RoundingMode
    manager_ids: tuple[UUID, ...]
    archived: bool
    version: int
    created_at: datetime
    updated_at: datetime
