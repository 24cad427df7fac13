"""Invoice events kept as receivables: what each issued invoice still owes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from contracts.envelope import EventEnvelope
from contracts.events.clients import ClientState
from contracts.events.credit_notes import CreditNoteIssued
from contracts.events.invoices import InvoiceIssued, InvoiceVoided
from payments.db import payments as rows
from payments.domain.payments import Receivable
from payments.handlers import receivables
from servicekit.db import Connection


def _receivable(event: EventEnvelope[Any]) -> Receivable:
    p = event.payload
    assert isinstance(p, InvoiceIssued)
    return Receivable(
        tenant_id=event.tenant_id,
        invoice_id=p.invoice_id,
        client_id=p.client_id,
        number=p.number,
        currency=p.currency,
        total_minor=p.total_minor,
        credited_minor=0,  # summed from receivable_credits when read
        paid_minor=0,
        void=False,
        due_date=p.due_date,
        issued_at=p.issued_at,
    )


async def on_invoice_issued(conn: Connection, event: EventEnvelope[Any]) -> None:
    await rows.record_issued(conn, _receivable(event))


async def on_invoices_issued(conn: Connection, events: Sequence[EventEnvelope[Any]]) -> None:
    await rows.record_issued_many(conn, [_receivable(e) for e in events])


async def on_invoice_voided(conn: Connection, event: EventEnvelope[Any]) -> None:
    p = event.payload
    assert isinstance(p, InvoiceVoided)
    await receivables.invoice_voided(conn, event.tenant_id, p.invoice_id, p.voided_at)


async def on_credit_note_issued(conn: Connection, event: EventEnvelope[Any]) -> None:
    p = event.payload
    assert isinstance(p, CreditNoteIssued)
    await receivables.credit_note_issued(
        conn, event.tenant_id, p.credit_note_id, p.number, p.invoice_id, p.total_minor, p.issued_at
    )


async def on_client_changed(conn: Connection, event: EventEnvelope[Any]) -> None:
    p = event.payload
    assert isinstance(p, ClientState)
    await rows.record_client(
        conn, event.tenant_id, p.client_id, p.version, p.name, p.currency, p.deleted
    )
