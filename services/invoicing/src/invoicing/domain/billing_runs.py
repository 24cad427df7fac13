"""Billing runs: one invoice per client with unbilled work in a period, optionally issued."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from uuid import UUID

from invoicing.domain.invoices import GroupBy

RunStatus = Literal["running", "completed"]


@dataclass(frozen=True, slots=True)
class BillingRun:
    tenant_id: UUID
    id: UUID
    period_start: date
    period_end: date
    group_by: GroupBy
    auto_issue: bool
    status: RunStatus
    version: int
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True, slots=True)
class RunFailure:
    client_id: UUID
    problem_type: str
    detail: str
    failed_at: datetime
