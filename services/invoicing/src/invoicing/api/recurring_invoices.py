"""`/v1/recurring-invoices` routes and their HTTP schemas."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal, Self
from uuid import UUID

from fastapi import APIRouter, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from invoicing.api.fields import BillingDate
from invoicing.api.invoices import ManualLineIn
from invoicing.db import recurring as schedule_rows
from invoicing.domain.errors import RecurringInvoiceNotFound
from invoicing.domain.recurring import RecurringInvoice
from invoicing.handlers import recurring as handlers
from servicekit import lists
from servicekit.api import (
    DEFAULT_PAGE,
    Cursor,
    Limit,
    Manager,
    Reader,
    RuntimeDep,
    SortParam,
    changes_of,
    versioned,
)
from servicekit.db import tenant_transaction
from servicekit.pagination import Page, fetch_page
from servicekit.versioning import IfMatch

router = APIRouter(prefix="/v1/recurring-invoices", tags=["recurring invoices"])

Frequency = Literal["weekly", "monthly", "quarterly", "yearly"]


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: UUID
    frequency: Frequency
    interval: int = Field(1, ge=1, le=366, description="Every `interval` weeks, months...")
    start_date: BillingDate = Field(description="First period starts here (tenant timezone).")
    end_date: BillingDate | None = Field(None, description="No period starts after this day.")
    timing: Literal["in_advance", "in_arrears"] = Field(
        "in_advance",
        description="Bill on the period's first day, or the day after its last (for time).",
    )
    include_time: bool = Field(False, description="Also bill the period's unbilled time.")
    group_by: Literal["project", "member", "task", "entry"] = "project"
    auto_issue: bool = Field(False, description="Issue each invoice as it is drafted.")
    tax_rate_id: UUID | None = None
    lines: list[ManualLineIn] = Field(default_factory=list, max_length=100)
    notes: str | None = Field(None, max_length=5000)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        if not self.lines and not self.include_time:
            raise ValueError("give lines, or include_time, or both")
        if self.include_time and self.timing == "in_advance":
            raise ValueError("time is billed in arrears: set timing to in_arrears")
        return self

    def fields(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude={"interval"})
        data["interval_count"] = self.interval
        data["client_id"] = self.client_id
        data["start_date"] = self.start_date
        data["end_date"] = self.end_date
        data["tax_rate_id"] = self.tax_rate_id
        return data


class SchedulePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["active", "paused"] | None = Field(
        None, description="Paused schedules bill nothing; resuming bills the periods missed."
    )
    end_date: BillingDate | None = None
    auto_issue: bool | None = None
    lines: list[ManualLineIn] | None = Field(None, max_length=100)
    notes: str | None = Field(None, max_length=5000)


class OccurrenceOut(BaseModel):
    period_start: date
    period_end: date
    invoice_id: UUID | None
    outcome: Literal["drafted", "issued", "skipped", "failed"]
    detail: str | None
    created_at: AwareDatetime


class ScheduleOut(BaseModel):
    id: UUID
    client_id: UUID
    frequency: Frequency
    interval: int
    start_date: date
    end_date: date | None
    timing: str
    include_time: bool
    group_by: str
    auto_issue: bool
    tax_rate_id: UUID | None
    lines: list[dict[str, Any]]
    notes: str | None
    status: Literal["active", "paused", "ended"]
    next_due_on: date | None = Field(description="When the next period is billed.")
    version: int
    created_at: AwareDatetime
    updated_at: AwareDatetime

    @classmethod
    def of(cls, s: RecurringInvoice) -> ScheduleOut:
        data = {name: getattr(s, name) for name in cls.model_fields if name != "interval"}
        return cls(**data, interval=s.interval_count)


class ScheduleDetailOut(ScheduleOut):
    occurrences: list[OccurrenceOut] = Field(description="The latest 50 periods handled.")


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ScheduleOut)
async def create_recurring_invoice(
    body: ScheduleIn, response: Response, runtime: RuntimeDep, identity: Manager
) -> ScheduleOut:
    """Each period is billed once, missed periods included after downtime or a pause."""
    schedule = await handlers.create_schedule(runtime, identity, body.fields())
    versioned(response, schedule.version, f"/v1/recurring-invoices/{schedule.id}")
    return ScheduleOut.of(schedule)


@router.get("", response_model=Page[ScheduleOut])
async def list_recurring_invoices(
    runtime: RuntimeDep,
    identity: Reader,
    client_id: UUID | None = None,
    status: Literal["active", "paused", "ended"] | None = None,
    sort: SortParam = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
) -> Page[ScheduleOut]:
    query = lists.query_of(schedule_rows.SCHEDULES, RecurringInvoice)
    lists.equals(query, "client_id", client_id)
    lists.equals(query, "status", status)
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        found = await fetch_page(
            conn,
            query,
            schedule_rows.schedule_of,
            sort=sort,
            allowed=lists.CREATED,
            default_sort="created_at",
            cursor=cursor,
            limit=limit,
        )
    return found.map(ScheduleOut.of)


@router.get("/{recurring_invoice_id}", response_model=ScheduleDetailOut)
async def get_recurring_invoice(
    recurring_invoice_id: UUID, response: Response, runtime: RuntimeDep, identity: Reader
) -> ScheduleDetailOut:
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        schedule = await schedule_rows.get(conn, recurring_invoice_id)
        if schedule is None:
            raise RecurringInvoiceNotFound(f"no recurring invoice {recurring_invoice_id}")
        occurrences = await schedule_rows.occurrences_of(conn, recurring_invoice_id, 50)
    versioned(response, schedule.version)
    return ScheduleDetailOut(
        **ScheduleOut.of(schedule).model_dump(),
        occurrences=[OccurrenceOut(**o) for o in occurrences],
    )


@router.patch("/{recurring_invoice_id}", response_model=ScheduleOut)
async def revise_recurring_invoice(
    recurring_invoice_id: UUID,
    body: SchedulePatch,
    response: Response,
    runtime: RuntimeDep,
    identity: Manager,
    if_match: IfMatch = None,
) -> ScheduleOut:
    changes = changes_of(body, {"status", "auto_issue", "lines"})
    if "lines" in changes:
        changes["lines"] = [line.model_dump(mode="json") for line in body.lines or []]
    schedule = await handlers.revise_schedule(
        runtime, identity, recurring_invoice_id, changes, if_match=if_match
    )
    versioned(response, schedule.version)
    return ScheduleOut.of(schedule)
