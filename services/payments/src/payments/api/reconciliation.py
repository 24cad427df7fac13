"""`/v1/reconciliation`: invoices vs payments vs refunds vs credit, per client and period."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, Field

from payments.db import reconciliation as rows
from servicekit.api import Reader, RuntimeDep
from servicekit.db import tenant_transaction
from servicekit.problems import ParameterInvalid

router = APIRouter(tags=["reconciliation"])


_FIRST, _LAST = date(1971, 1, 1), date(9998, 12, 31)
# Each list shows this many at most (there should be none), with a flag when there are more.
SHOWN = 100


class ClientTotals(BaseModel):
    client_id: UUID
    currency: str
    invoiced_minor: int = Field(description="Issued in the period, not void.")
    credited_minor: int = Field(description="Credit notes on those invoices.")
    paid_minor: int = Field(
        description="Put on invoices in the period, by payments and from credit."
    )
    from_credit_minor: int = Field(description="Of paid_minor, spent from the credit balance.")
    refunded_minor: int = Field(description="Refunded to the client off invoices in the period.")
    returned_to_credit_minor: int = Field(
        description="Taken off invoices into the credit balance in the period (refunds of "
        "credit payments, what credit notes left paid beyond a total)."
    )
    to_credit_minor: int = Field(description="Received in the period, kept as credit.")
    credit_paid_out_minor: int = Field(description="Credit balance paid out in the period.")
    credit_balance_minor: int = Field(description="The client's credit balance now.")


class Mismatch(BaseModel):
    invoice_id: UUID
    client_id: UUID
    number: str
    currency: str
    total_minor: int
    credited: int
    paid_minor: int
    applied: int
    refunded: int
    void: bool
    reasons: list[str]


class CreditMismatch(BaseModel):
    """A client's credit ledger (one currency) that does not match what moved money into or
    out of it, over its whole life; each pair of figures should be equal."""

    client_id: UUID
    currency: str
    balance_minor: int
    overpaid_moved: int = Field(description="Overpayments in the ledger.")
    overpaid_paid: int = Field(description="What succeeded payments sent to credit.")
    returned_moved: int = Field(description="Returns in the ledger.")
    returned_refunded: int = Field(description="What refunds sent back to credit.")
    applied_moved: int = Field(description="Credit spent, in the ledger.")
    applied_paid: int = Field(description="What payments made from credit took.")
    reasons: list[str]


class UnsettledProviderEvent(BaseModel):
    id: UUID
    provider: str
    event_id: str
    type: str
    detail: str | None
    created_at: AwareDatetime


class ReconciliationOut(BaseModel):
    period_start: date
    period_end: date
    clients: list[ClientTotals]
    mismatches: list[Mismatch] = Field(
        description=f"Invoices whose money does not add up, the first {SHOWN} by number."
    )
    more_mismatches: bool = Field(description="More mismatched invoices than those listed.")
    credit_mismatches: list[CreditMismatch] = Field(
        description="Credit ledgers (per client and currency, of `client_id` or all) that do "
        "not add up, whatever the period (a balance has no period); the first "
        f"{SHOWN} by client."
    )
    more_credit_mismatches: bool = Field(
        description="More mismatched credit ledgers than those listed."
    )
    unsettled_provider_events: list[UnsettledProviderEvent] | None = Field(
        description="Provider events received in the period that report money but could not "
        f"be applied (`rejected`, with why): to settle by hand; the first {SHOWN}, "
        "oldest first (all of them: `GET /v1/providers/stripe/events?outcome=rejected`). "
        "Tenant-wide: null when `client_id` is given (such an event may name no client)."
    )
    more_unsettled_provider_events: bool = Field(
        description="More unsettled provider events than those listed."
    )


@router.get("/v1/reconciliation", response_model=ReconciliationOut)
async def reconcile(
    runtime: RuntimeDep,
    identity: Reader,
    period_start: Annotated[date, Query(ge=_FIRST, le=_LAST, description="First day (UTC).")],
    period_end: Annotated[
        date, Query(ge=_FIRST, le=_LAST, description="Last day (UTC), inclusive.")
    ],
    client_id: UUID | None = None,
) -> ReconciliationOut:
    """Per client and currency over UTC days `period_start`..`period_end`, every invoice of
    the period whose money does not add up (there should be none), every credit ledger
    that does not add up (whatever the period), and the provider events
    of the period that reported money no invoice or balance here holds."""
    if period_end < period_start:
        raise ParameterInvalid("period_end", "is before period_start")
    start = datetime.combine(period_start, time(0), tzinfo=UTC)
    end = datetime.combine(period_end + timedelta(days=1), time(0), tzinfo=UTC)
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        totals = await rows.totals(conn, start, end, client_id)
        mismatches = await rows.mismatches(conn, start, end, client_id, SHOWN + 1)
        credit = await rows.credit_mismatches(conn, client_id, SHOWN + 1)
        unsettled = (
            None if client_id else await rows.unsettled_provider_events(conn, start, end, SHOWN + 1)
        )
    return ReconciliationOut(
        period_start=period_start,
        period_end=period_end,
        clients=[ClientTotals(**t) for t in totals],
        mismatches=[Mismatch(**m) for m in mismatches[:SHOWN]],
        more_mismatches=len(mismatches) > SHOWN,
        credit_mismatches=[CreditMismatch(**c) for c in credit[:SHOWN]],
        more_credit_mismatches=len(credit) > SHOWN,
        unsettled_provider_events=None
        if unsettled is None
        else [UnsettledProviderEvent(**e) for e in unsettled[:SHOWN]],
        more_unsettled_provider_events=unsettled is not None and len(unsettled) > SHOWN,
    )
