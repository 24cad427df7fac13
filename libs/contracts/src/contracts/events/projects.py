"""Payload of `project.changed` (compacted topic `project-changed`)."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from contracts.events.base import ContractModel, JsonDecimal

__all__ = ["ProjectState"]


class ProjectState(ContractModel):
    """Full state of a project after the change, for replicas built from the topic."""

    project_id: UUID = Field(description="The project; message key on `project-changed`.")
    version: int = Field(ge=1, description="Revision number, +1 on every change.")
    client_id: UUID = Field(description="Client the project is billed to.")
    name: str = Field(min_length=1, description="Display name.")
    code: str | None = Field(description="Short reference code, if the tenant uses one.")
    billable_by_default: bool = Field(
        default=True, description="Initial `billable` flag of new time entries."
    )
    rounding_increment_minutes: Literal[1, 6, 15, 30] = Field(
        default=1, description="Billed time per entry is rounded to this many minutes."
    )
    rounding_mode: Literal["up", "nearest", "down"] = Field(
        default="nearest", description="Direction of the per-entry time rounding."
    )
    budget_hours: JsonDecimal | None = Field(
        default=None, ge=0, description="Hour budget, as a decimal string."
    )
    budget_amount_minor: int | None = Field(
        default=None, ge=0, description="Money budget in minor units of the client's currency."
    )
    archived: bool = Field(default=False, description="Archived projects take no new time.")
    deleted: bool = Field(
        default=False, description="The project was deleted (it never had time); drop the replica."
    )
