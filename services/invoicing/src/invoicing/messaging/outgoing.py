"""Invoice changes turned into contract events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from contracts.envelope import EventEnvelope
from contracts.events.credit_notes import CreditNoteIssued
from contracts.events.invoices import (
    InvoiceIssued,
    InvoiceLine,
    InvoiceOverdue,
    InvoicePaid,
    InvoiceVoided,
    InvoiceWrittenOff,
)
from contracts.registry import build_event
from invoicing.domain.credit_notes import CreditNote, CreditNoteLine
from invoicing.domain.invoices import BilledEntry, Invoice
from invoicing.domain.invoices import InvoiceLine as Line

PRODUCER = "invoicing"


def _envelope(
    event_type: str, payload: Any, invoice: Invoice, event_id: UUID, occurred_at: datetime
) -> EventEnvelope[Any]:
    return build_event(
        event_type,
        payload,
        tenant_id=invoice.tenant_id,
        producer=PRODUCER,
        event_id=event_id,
        occurred_at=occurred_at,
        correlation_id=invoice.id,
    )


def contract_lines(lines: Sequence[Line], entries: Sequence[BilledEntry]) -> list[InvoiceLine]:
    by_line: dict[UUID, list[UUID]] = {}
    for entry in entries:
        by_line.setdefault(entry.line_id, []).append(entry.entry_id)
    return [
        InvoiceLine(
            line_id=line.id,
            description=line.description,
            project_id=line.project_id,
            quantity=line.quantity,
            unit_amount_minor=line.unit_amount_minor,
            amount_minor=line.amount_minor,
            discount_minor=line.discount_minor,
            tax_rate_id=line.tax_rate_id,
            tax_rate_percent=line.tax_percent,
            tax_minor=line.tax_minor,
            time_entry_ids=by_line.get(line.id, []),
        )
        for line in lines
    ]


def invoice_issued(
    invoice: Invoice,
    lines: Sequence[Line],
    entries: Sequence[BilledEntry],
    *,
    event_id: UUID,
) -> EventEnvelope[Any]:
    assert invoice.number
    assert invoice.issued_at
    assert invoice.due_date
    payload = InvoiceIssued(
        invoice_id=invoice.id,
        number=invoice.number,
        client_id=invoice.client_id,
        currency=invoice.currency,
        issued_at=invoice.issued_at,
        due_date=invoice.due_date,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        lines=contract_lines(lines, entries),
        subtotal_minor=invoice.subtotal_minor,
        discount_minor=invoice.discount_minor,
        tax_minor=invoice.tax_minor,
        total_minor=invoice.total_minor,
        time_entry_ids=[e.entry_id for e in entries],
    )
    return _envelope("invoice.issued", payload, invoice, event_id, invoice.issued_at)


def invoice_voided(
    invoice: Invoice, entries: Sequence[BilledEntry], *, event_id: UUID
) -> EventEnvelope[Any]:
    assert invoice.number
    assert invoice.voided_at
    payload = InvoiceVoided(
        invoice_id=invoice.id,
        number=invoice.number,
        client_id=invoice.client_id,
        voided_at=invoice.voided_at,
        reason=invoice.void_reason,
        time_entry_ids=[e.entry_id for e in entries],
    )
    return _envelope("invoice.voided", payload, invoice, event_id, invoice.voided_at)


def invoice_paid(invoice: Invoice, *, event_id: UUID) -> EventEnvelope[Any]:
    assert invoice.number
    assert invoice.paid_at
    payload = InvoicePaid(
        invoice_id=invoice.id,
        number=invoice.number,
        client_id=invoice.client_id,
        currency=invoice.currency,
        total_minor=invoice.total_minor,
        amount_paid_minor=invoice.amount_paid_minor,
        amount_credited_minor=invoice.amount_credited_minor,
        paid_at=invoice.paid_at,
    )
    return _envelope("invoice.paid", payload, invoice, event_id, invoice.paid_at)


def invoice_overdue(invoice: Invoice, *, event_id: UUID) -> EventEnvelope[Any]:
    assert invoice.number
    assert invoice.overdue_at
    assert invoice.due_date
    payload = InvoiceOverdue(
        invoice_id=invoice.id,
        number=invoice.number,
        client_id=invoice.client_id,
        currency=invoice.currency,
        due_date=invoice.due_date,
        balance_minor=invoice.balance_minor,
        overdue_at=invoice.overdue_at,
    )
    return _envelope("invoice.overdue", payload, invoice, event_id, invoice.overdue_at)


def invoice_written_off(
    invoice: Invoice, *, event_id: UUID, reason: str | None
) -> EventEnvelope[Any]:
    assert invoice.number
    assert invoice.written_off_at
    payload = InvoiceWrittenOff(
        invoice_id=invoice.id,
        number=invoice.number,
        client_id=invoice.client_id,
        currency=invoice.currency,
        amount_minor=invoice.amount_written_off_minor,
        written_off_at=invoice.written_off_at,
        reason=reason,
    )
    return _envelope("invoice.written_off", payload, invoice, event_id, invoice.written_off_at)


def credit_note_issued(
    note: CreditNote, lines: Sequence[CreditNoteLine], *, event_id: UUID
) -> EventEnvelope[Any]:
    payload = CreditNoteIssued(
        credit_note_id=note.id,
        number=note.number,
        invoice_id=note.invoice_id,
        invoice_number=note.invoice_number,
        client_id=note.client_id,
        currency=note.currency,
        issued_at=note.issued_at,
        reason=note.reason,
        lines=[
            InvoiceLine(
                line_id=line.id,
                description=line.description,
                project_id=line.project_id,
                quantity=Decimal(1),
                unit_amount_minor=line.amount_minor,
                amount_minor=line.amount_minor,
                discount_minor=0,
                tax_rate_id=line.tax_rate_id,
                tax_rate_percent=line.tax_percent,
                tax_minor=line.tax_minor,
            )
            for line in lines
        ],
        subtotal_minor=note.subtotal_minor,
        discount_minor=0,
        tax_minor=note.tax_minor,
        total_minor=note.total_minor,
    )
    return build_event(
        "credit_note.issued",
        payload,
        tenant_id=note.tenant_id,
        producer=PRODUCER,
        event_id=event_id,
        occurred_at=note.issued_at,
        correlation_id=note.invoice_id,
    )
