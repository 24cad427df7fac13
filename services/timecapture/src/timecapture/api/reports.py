"""`/v1/reports/time-summary`: totals per period and member, project or client."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from servicekit.api import Reader, RuntimeDep
from servicekit.db import tenant_transaction
from servicekit.pagination import InvalidListParameter
from timecapture.views.time_summary import GroupBy, Period, SummaryRow, time_summary

router = APIRouter(prefix="/v1/reports", tags=["reports"])

MAX_DAYS = {"day": 366, "week": 2 * 366, "month": 5 * 366}


def hours(seconds: int) -> Decimal:
    """Hours for display, to the hundredth, half away from zero (seconds stay exact)."""
    return (Decimal(seconds) / 3600).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")


class Totals(BaseModel):
    billable_seconds: int
    non_billable_seconds: int
    total_seconds: int
    billable_hours: Decimal = Field(description="Billable hours to the hundredth.")
    total_hours: Decimal = Field(description="All hours to the hundredth.")
    entries: int

    @classmethod
    def of(cls, billable: int, non_billable: int, entries: int) -> Totals:
        return cls(
            billable_seconds=billable,
            non_billable_seconds=non_billable,
            total_seconds=billable + non_billable,
            billable_hours=hours(billable),
            total_hours=hours(billable + non_billable),
            entries=entries,
        )


class SummaryLine(Totals):
    period_start: date = Field(description="First day of the period, in `timezone`.")
    group_id: UUID = Field(description="The member, project or client.")


class TimeSummary(BaseModel):
    period: Period
    group_by: GroupBy
    timezone: str
    date_from: date = Field(serialization_alias="from")
    date_to: date = Field(serialization_alias="to")
    rows: list[SummaryLine]
    totals: Totals


def _midnight(day: date, days_later: int, zone: ZoneInfo, parameter: str) -> datetime:
    """Start of `day` + `days_later` in `zone`, in UTC; 422 where that is not a datetime."""
    try:
        return datetime.combine(day + timedelta(days=days_later), time(), zone).astimezone(UTC)
    except OverflowError:
        raise InvalidListParameter(parameter, f"{day} is out of range in {zone.key}") from None


def _line(r: SummaryRow) -> SummaryLine:
    totals = Totals.of(r.billable_seconds, r.non_billable_seconds, r.entries)
    return SummaryLine(period_start=r.period_start, group_id=r.group_id, **totals.model_dump())


@router.get("/time-summary", response_model=TimeSummary, response_model_by_alias=True)
async def get_time_summary(
    runtime: RuntimeDep,
    identity: Reader,
    date_from: Annotated[date, Query(alias="from", description="First day, inclusive.")],
    date_to: Annotated[date, Query(alias="to", description="Last day, inclusive.")],
    period: Annotated[Period, Query()] = "week",
    group_by: Annotated[GroupBy, Query()] = "project",
    timezone: Annotated[str, Query(max_length=64, description="IANA zone of the days.")] = "UTC",
    member_id: Annotated[UUID | None, Query()] = None,
    project_id: Annotated[UUID | None, Query()] = None,
    client_id: Annotated[UUID | None, Query()] = None,
) -> TimeSummary:
    """Entries count in the period where they start; weeks start on Monday (ISO 8601)."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidListParameter("timezone", f"{timezone!r} is not an IANA time zone") from None
    if date_to < date_from:
        raise InvalidListParameter("to", "is before from")
    if (date_to - date_from).days >= MAX_DAYS[period]:
        raise InvalidListParameter(
            "to", f"a {period} summary spans at most {MAX_DAYS[period]} days"
        )
    start = _midnight(date_from, 0, zone, "from")
    end = _midnight(date_to, 1, zone, "to")
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        found = await time_summary(
            conn,
            period=period,
            group_by=group_by,
            timezone=timezone,
            start=start,
            end=end,
            member_id=member_id,
            project_id=project_id,
            client_id=client_id,
        )
    lines = [_line(r) for r in found]
    return TimeSummary(
        period=period,
        group_by=group_by,
        timezone=timezone,
        date_from=date_from,
        date_to=date_to,
        rows=lines,
        totals=Totals.of(
            sum(r.billable_seconds for r in found),
            sum(r.non_billable_seconds for r in found),
            sum(r.entries for r in found),
        ),
    )
