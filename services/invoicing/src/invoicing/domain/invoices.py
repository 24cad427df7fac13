"""Invoices: three status axes, each a small state machine with a timestamp per step."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from invoicing.domain.errors import TransitionRefused

Status = Literal["draft", "issued", "void"]
PaymentStatus = Literal["unpaid", "partially_paid", "paid"]
CollectionStatus = Literal["current", "overdue", "uncollectible"]
GroupBy = Literal["project", "member", "task", "entry"]
LineKind = Literal["time", "manual", "fixed_fee", "retainer", "adjustment"]

# Allowed steps on the document axis; payment and collection follow from amounts and jobs.
_DOCUMENT_STEPS: dict[Status, set[Status]] = {
    "draft": {"issued"},
    "issued": {"void"},
    "void": set(),
}


@dataclass(frozen=True, slots=True)
class Invoice:
    tenant_id: UUID
    id: UUID
    client_id: UUID
    currency: str
    status: Status
    payment_status: PaymentStatus
    collection_status: CollectionStatus
    number: str | None
    period_start: date | None
    period_end: date | None
    group_by: GroupBy
    tax_rounding: str
    discount_kind: str | None
    discount_value: Decimal | None
    payment_terms_days: int
    due_date: date | None
    subtotal_minor: int
    discount_minor: int
    tax_minor: int
    total_minor: int
    amount_paid_minor: int
    amount_credited_minor: int
    amount_written_off_minor: int
    notes: str | None
    void_reason: str | None
    client_snapshot: dict[str, Any]
    seller_snapshot: dict[str, Any] | None
    billing_run_id: UUID | None
    version: int
    created_at: datetime
    updated_at: datetime
    issued_at: datetime | None
    voided_at: datetime | None
    partially_paid_at: datetime | None
    paid_at: datetime | None
    overdue_at: datetime | None
    written_off_at: datetime | None

    @property
    def balance_minor(self) -> int:
        """What the client still owes; negative when paid more than owed."""
        return (
            self.total_minor
            - self.amount_paid_minor
            - self.amount_credited_minor
            - self.amount_written_off_minor
        )

    def step(self, to: Status, now: datetime, **changes: Any) -> Invoice:
        if to not in _DOCUMENT_STEPS[self.status]:
            raise TransitionRefused(f"a {self.status} invoice cannot become {to}")
        stepped = dataclasses.replace(
            self, status=to, version=self.version + 1, updated_at=now, **changes
        )
        if to == "issued":
            return dataclasses.replace(stepped, issued_at=now)
        return dataclasses.replace(stepped, voided_at=now)

    def with_money(
        self, *, paid: int | None = None, credited: int | None = None, now: datetime
    ) -> Invoice:
        """New paid or credited amounts, with the payment status (and its stamps) they imply."""
        new = dataclasses.replace(
            self,
            amount_paid_minor=self.amount_paid_minor if paid is None else paid,
            amount_credited_minor=self.amount_credited_minor if credited is None else credited,
            version=self.version + 1,
            updated_at=now,
        )
        status = payment_status_of(new)
        paid_at = (self.paid_at or now) if status == "paid" else None
        partially_paid_at = self.partially_paid_at
        if status == "partially_paid" and partially_paid_at is None:
            partially_paid_at = now
        # Settled money is no longer overdue; a written-off invoice stays uncollectible.
        collection = new.collection_status
        if status == "paid" and collection == "overdue":
            collection = "current"
        return dataclasses.replace(
            new,
            payment_status=status,
            paid_at=paid_at,
            partially_paid_at=partially_paid_at,
            collection_status=collection,
        )


def payment_status_of(invoice: Invoice) -> PaymentStatus:
    settled = invoice.amount_paid_minor + invoice.amount_credited_minor
    if invoice.total_minor <= settled:
        return "paid"
    return "partially_paid" if settled > 0 else "unpaid"


def require_status(invoice: Invoice, *allowed: Status, action: str) -> None:
    if invoice.status not in allowed:
        raise TransitionRefused(f"cannot {action} a {invoice.status} invoice")


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    tenant_id: UUID
    invoice_id: UUID
    id: UUID
    position: int
    kind: LineKind
    description: str
    project_id: UUID | None
    member_id: UUID | None
    task: str | None
    quantity: Decimal
    unit: str
    unit_amount_minor: int
    amount_minor: int
    line_discount_kind: str | None
    line_discount_value: Decimal | None
    discount_minor: int
    tax_rate_id: UUID | None
    tax_name: str | None
    tax_percent: Decimal | None
    tax_treatment: str | None
    tax_minor: int
    raw_seconds: int | None
    billed_seconds: int | None
    rate_rule_id: UUID | None
    rate_scope: str | None
    rate_explanation: str | None
    adjusts_invoice_id: UUID | None


@dataclass(frozen=True, slots=True)
class BilledEntry:
    """An entry as an invoice bills it (the row that reserves or locks it)."""

    tenant_id: UUID
    invoice_id: UUID
    line_id: UUID
    entry_id: UUID
    entry_version: int
    raw_seconds: int
    billed_seconds: int
    amount_minor: int
    active: bool
    superseded_by: UUID | None = None


def number_of(prefix: str, year: int, sequence: int) -> str:
    """`INV-2026-00042`: prefix, issue year in the tenant's timezone, five-digit sequence."""
    return f"{prefix}-{year}-{sequence:05d}"
