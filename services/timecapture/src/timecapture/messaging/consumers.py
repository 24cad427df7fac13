"""Invoice events turned into entry locks; the kit supplies the transaction and dedup."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from contracts.envelope import EventEnvelope
from contracts.events.invoices import InvoiceIssued, InvoiceVoided
from servicekit.db import Connection
from timecapture.handlers import time_entries as handlers


async def on_invoice_issued(conn: Connection, event: EventEnvelope[Any]) -> None:
    assert isinstance(event.payload, InvoiceIssued)
    invoice = event.payload
    await handlers.lock_for_invoice(
        conn, invoice.invoice_id, list(invoice.time_entry_ids), invoice.issued_at
    )


async def on_invoices_issued(conn: Connection, events: Sequence[EventEnvelope[Any]]) -> None:
    issued = []
    for event in events:
        assert isinstance(event.payload, InvoiceIssued)
        p = event.payload
        issued.append((p.invoice_id, list(p.time_entry_ids), p.issued_at))
    await handlers.lock_for_invoices(conn, issued)


async def on_invoice_voided(conn: Connection, event: EventEnvelope[Any]) -> None:
    assert isinstance(event.payload, InvoiceVoided)
    await handlers.unlock_for_invoice(conn, event.payload.invoice_id, event.payload.voided_at)
