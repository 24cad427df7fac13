"""Issue credit notes against issued invoices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from invoicing.db import credit_notes as rows
from invoicing.db import invoices as invoice_rows
from invoicing.db import settings as settings_rows
from invoicing.domain.credit_notes import (
    CreditNote,
    CreditNoteLine,
    check_within_total,
    credits_for,
)
from invoicing.domain.errors import InvoiceNotFound, LineAdjusted
from invoicing.domain.invoices import number_of, require_status
from invoicing.domain.periods import local_date
from invoicing.handlers.common import transaction
from invoicing.messaging import outgoing
from servicekit.db import Connection
from servicekit.identity import Identity
from servicekit.outbox import enqueue
from servicekit.service import Runtime


@dataclass(frozen=True, slots=True)
class CreditNoteView:
    note: CreditNote
    lines: tuple[CreditNoteLine, ...]


async def issue_credit_note(
    runtime: Runtime,
    identity: Identity,
    invoice_id: UUID,
    requested: Sequence[tuple[UUID, int]] | None,
    *,
    reason: str | None,
) -> CreditNoteView:
    """Credit lines of an issued invoice (all that is left when `requested` is None): number
    it in the credit-note series, reduce the invoice's balance, publish `credit_note.issued`
    (and `invoice.paid` if that settles the invoice)."""

    async def write(conn: Connection) -> CreditNoteView:
        return await issue_credit_note_in(conn, runtime, invoice_id, requested, reason=reason)

    return await transaction(runtime, identity, write)


async def issue_credit_note_in(
    conn: Connection,
    runtime: Runtime,
    invoice_id: UUID,
    requested: Sequence[tuple[UUID, int]] | None,
    *,
    reason: str | None,
) -> CreditNoteView:
    """`issue_credit_note` inside the caller's tenant transaction (with its Idempotency-Key)."""
    now = runtime.clock()
    invoice = await invoice_rows.get(conn, invoice_id, lock=True)
    if invoice is None:
        raise InvoiceNotFound(f"no invoice {invoice_id}")
    require_status(invoice, "issued", action="credit")
    assert invoice.number is not None
    lines = await invoice_rows.lines_of(conn, invoice_id)
    credits = credits_for(lines, await rows.credited_by_line(conn, invoice_id), requested)
    adjusted = await invoice_rows.adjusted_lines(conn, invoice_id)
    if any(c.line.id in adjusted for c in credits):
        raise LineAdjusted(
            "a later invoice already adjusts time on these lines; credit that invoice instead"
        )
    check_within_total(credits, invoice.amount_credited_minor, invoice.total_minor)
    settings = await settings_rows.get(conn, invoice.tenant_id)
    issued_on = local_date(now, settings.zone)
    sequence = await invoice_rows.next_number(
        conn, invoice.tenant_id, "credit_note", settings.credit_note_prefix, issued_on.year
    )
    note_id = runtime.new_id()
    note_lines = tuple(
        CreditNoteLine(
            tenant_id=invoice.tenant_id,
            credit_note_id=note_id,
            id=runtime.new_id(),
            position=position,
            invoice_line_id=c.line.id,
            description=c.line.description,
            project_id=c.line.project_id,
            amount_minor=c.amount_minor,
            tax_rate_id=c.line.tax_rate_id,
            tax_name=c.line.tax_name,
            tax_percent=c.line.tax_percent,
            tax_treatment=c.line.tax_treatment,
            tax_minor=c.tax_minor,
        )
        for position, c in enumerate(credits, start=1)
    )
    subtotal = sum(line.amount_minor for line in note_lines)
    tax = sum(line.tax_minor for line in note_lines)
    note = CreditNote(
        tenant_id=invoice.tenant_id,
        id=note_id,
        invoice_id=invoice.id,
        invoice_number=invoice.number,
        client_id=invoice.client_id,
        currency=invoice.currency,
        number=number_of(settings.credit_note_prefix, issued_on.year, sequence),
        reason=reason,
        subtotal_minor=subtotal,
        tax_minor=tax,
        total_minor=subtotal + tax,
        client_snapshot=invoice.client_snapshot,
        seller_snapshot=settings.seller_snapshot(),
        version=1,
        created_at=now,
        issued_at=now,
    )
    await rows.insert(conn, note, note_lines)
    credited = invoice.with_money(
        credited=invoice.amount_credited_minor + note.total_minor, now=now
    )
    await invoice_rows.update(conn, credited)
    await enqueue(conn, outgoing.credit_note_issued(note, note_lines, event_id=runtime.new_id()))
    if credited.payment_status == "paid" and invoice.payment_status != "paid":
        await enqueue(conn, outgoing.invoice_paid(credited, event_id=runtime.new_id()))
    return CreditNoteView(note, note_lines)
