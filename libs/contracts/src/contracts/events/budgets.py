"""Payload of `project.budget_threshold_crossed` (topic `budget-threshold-crossed`)."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, Field

from contracts.events.base import ContractModel
from contracts.money import CurrencyCode

__all__ = ["BudgetThresholdCrossed"]


class BudgetThresholdCrossed(ContractModel):
    """A project's consumption reached a share of its budget; sent once per threshold."""

    project_id: UUID = Field(description="The project; message key on the topic.")
    client_id: UUID = Field(description="Client the project is billed to.")
    budget_kind: Literal["hours", "amount"] = Field(
        description="`hours`: tracked time; `amount`: tracked time priced at members' cost rates."
    )
    threshold_percent: int = Field(ge=1, description="Threshold crossed, e.g. 80 or 100.")
    budget: int = Field(
        ge=0, description="The budget: seconds for `hours`, minor units of `currency` for `amount`."
    )
    consumed: int = Field(
        ge=0, description="Consumption when crossed, in the same unit as `budget`."
    )
    currency: CurrencyCode | None = Field(
        default=None, description="Currency of an `amount` budget; null for `hours`."
    )
    crossed_at: AwareDatetime = Field(description="When the write that crossed it committed.")
    time_entry_id: UUID | None = Field(
        default=None, description="The time entry whose write crossed the threshold, if one did."
    )
