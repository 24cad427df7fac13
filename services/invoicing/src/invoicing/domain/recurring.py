"""Recurring invoice schedules: which periods are due, each billed once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from invoicing.domain.periods import Frequency, Period, occurrences

Timing = Literal["in_advance", "in_arrears"]
ScheduleStatus = Literal["active", "paused", "ended"]


@dataclass(frozen=True, slots=True)
class RecurringInvoice:
    tenant_id: UUID
    id: UUID
    client_id: UUID
    frequency: Frequency
    interval_count: int
    start_date: date
    end_date: date | None
    timing: Timing
    include_time: bool
    group_by: str
    auto_issue: bool
    tax_rate_id: UUID | None
    # Manual line templates, as the API took them (description, quantity, unit price...).
    lines: list[dict[str, Any]]
    notes: str | None
    status: ScheduleStatus
    next_due_on: date | None
    version: int
    created_at: datetime
    updated_at: datetime


def due_on(period: Period, timing: Timing) -> date:
    """In advance: billed on the period's first day; in arrears: the day after its last."""
    return period.start if timing == "in_advance" else date.fromordinal(period.end.toordinal() + 1)


def due_periods(schedule: RecurringInvoice, today: date) -> list[Period]:
    """Every period of the schedule due by `today` (the caller skips those already billed)."""
    periods = occurrences(
        schedule.frequency, schedule.interval_count, schedule.start_date, schedule.end_date, today
    )
    return [p for p in periods if due_on(p, schedule.timing) <= today]


def next_due(schedule: RecurringInvoice, today: date) -> date | None:
    """When the first period not yet due will be; None when the schedule has no more."""
    # Far enough for one period of any frequency and interval to start.
    horizon = date.fromordinal(today.toordinal() + schedule.interval_count * 366 + 62)
    for period in occurrences(
        schedule.frequency, schedule.interval_count, schedule.start_date, schedule.end_date, horizon
    ):
        when = due_on(period, schedule.timing)
        if when > today:
            return when
    return None
