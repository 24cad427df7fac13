"""`/v1/billing-runs` routes and their HTTP schemas."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal, Self
from uuid import UUID

from fastapi import APIRouter, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from invoicing.api.fields import BillingDate
from invoicing.db import billing_runs as run_rows
from invoicing.domain.billing_runs import BillingRun, RunFailure
from invoicing.domain.errors import BillingRunNotFound
from invoicing.domain.periods import Period
from invoicing.handlers import billing_runs as handlers
from invoicing.settings import InvoicingSettings
from servicekit import lists
from servicekit.api import DEFAULT_PAGE, Cursor, Limit, Manager, Reader, RuntimeDep, SortParam
from servicekit.db import tenant_transaction
from servicekit.pagination import Page

router = APIRouter(prefix="/v1/billing-runs", tags=["billing runs"])


class BillingRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period_start: BillingDate = Field(description="First day billed, in the tenant's timezone.")
    period_end: BillingDate = Field(description="Last day billed (inclusive).")
    group_by: Literal["project", "member", "task", "entry"] = "project"
    auto_issue: bool = Field(False, description="Issue each invoice right after drafting it.")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        if (self.period_end - self.period_start).days > 366:
            raise ValueError("a billing run covers at most 367 days")
        return self


class FailureOut(BaseModel):
    client_id: UUID
    problem_type: str = Field(description="Problem slug, e.g. rate-missing.")
    detail: str
    failed_at: AwareDatetime

    @classmethod
    def of(cls, f: RunFailure) -> FailureOut:
        return cls.model_validate(f, from_attributes=True)


class CurrencyTotalOut(BaseModel):
    currency: str
    invoices: int
    issued: int
    total_minor: int


class BillingRunOut(BaseModel):
    id: UUID
    period_start: date
    period_end: date
    group_by: str
    auto_issue: bool
    status: Literal["running", "completed"]
    version: int
    created_at: AwareDatetime
    updated_at: AwareDatetime
    completed_at: AwareDatetime | None

    @classmethod
    def of(cls, r: BillingRun, **extra: Any) -> Any:
        return cls.model_validate({**_fields(r), **extra})


class BillingRunDetailOut(BillingRunOut):
    totals: list[CurrencyTotalOut] = Field(description="Invoices drafted so far, per currency.")
    failures: list[FailureOut] = Field(description="Clients not billed, and why.")


def _fields(r: BillingRun) -> dict[str, Any]:
    return {name: getattr(r, name) for name in BillingRunOut.model_fields}


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=BillingRunOut)
async def start_billing_run(
    body: BillingRunIn, response: Response, runtime: RuntimeDep, identity: Manager
) -> Any:
    """Drafts one invoice per client with unbilled billable time in the period, in the
    background; follow it at `Location`. Running it again bills only time still unbilled."""
    run = await handlers.start_run(
        runtime,
        identity,
        Period(body.period_start, body.period_end),
        group_by=body.group_by,
        auto_issue=body.auto_issue,
    )
    settings = runtime.settings
    assert isinstance(settings, InvoicingSettings)
    handlers.process_soon(runtime, run.tenant_id, run.id, settings.billing_run_concurrency)
    response.headers["Location"] = f"/v1/billing-runs/{run.id}"
    return BillingRunOut.of(run)


@router.get("", response_model=Page[BillingRunOut])
async def list_billing_runs(
    runtime: RuntimeDep,
    identity: Reader,
    status: Literal["running", "completed"] | None = None,
    sort: SortParam = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
) -> Page[BillingRunOut]:
    query = lists.query_of(run_rows.RUNS, BillingRun)
    lists.equals(query, "status", status)
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        found = await lists.newest_first(
            conn, query, BillingRun, sort=sort, cursor=cursor, limit=limit
        )
    return found.map(BillingRunOut.of)


@router.get("/{billing_run_id}", response_model=BillingRunDetailOut)
async def get_billing_run(billing_run_id: UUID, runtime: RuntimeDep, identity: Reader) -> Any:
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        run = await run_rows.get(conn, billing_run_id)
        if run is None:
            raise BillingRunNotFound(f"no billing run {billing_run_id}")
        totals = await run_rows.totals(conn, billing_run_id)
        failures = await run_rows.failures(conn, billing_run_id)
    return BillingRunDetailOut.of(
        run, totals=totals, failures=[FailureOut.of(f).model_dump() for f in failures]
    )
