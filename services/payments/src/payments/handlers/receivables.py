"""Invoice events that lower what an invoice owes. What a credit note leaves paid beyond the
new total, or what a void finds on the invoice, moves off it into the client's credit
balance: no cent sits on an invoice that does not owe it."""

from __future__ import annotations

import uuid
from datetime import datetime
from uuid import UUID

from payments.db import payments as rows
from payments.handlers.payments import TakeBack, take_back
from servicekit.db import Connection

# Ids derived from the cause and the payment: a redelivered event makes the same ones.
_NAMESPACE = uuid.UUID("0b7f3c52-9f0e-4a4c-8f7e-5d2a6c1e9b31")


def _derived(cause_id: UUID, payment_id: UUID, what: str) -> UUID:
    return uuid.uuid5(_NAMESPACE, f"{cause_id}:{payment_id}:{what}")


async def invoice_voided(conn: Connection, tenant_id: UUID, invoice_id: UUID, at: datetime) -> None:
    """Invoicing refuses to void an invoice it knows has money on it, so money found here
    was recorded in the race before the void: invoicing never counted it (it dead-letters a
    payment for a void invoice), so it moves to credit without a `payment.refunded`."""
    if not await rows.record_voided(conn, tenant_id, invoice_id):
        return
    receivable = await rows.receivable(conn, invoice_id, lock=True)
    if receivable is None:
        return  # issued later: nothing can be paid on it before then
    for payment in await rows.refundable_payments(conn, invoice_id):
        moved = TakeBack(
            refund_id=_derived(invoice_id, payment.id, "void-refund"),
            amount_minor=payment.applied_minor - payment.refunded_minor,
            reason="the invoice was voided; its money is kept as credit",
            destination="credit_balance",
            event_id=None,
            movement_id=_derived(invoice_id, payment.id, "void-movement"),
        )
        await take_back(conn, payment, moved, at)


async def credit_note_issued(  # noqa: PLR0917
    conn: Connection,
    tenant_id: UUID,
    credit_note_id: UUID,
    number: str,
    invoice_id: UUID,
    amount_minor: int,
    at: datetime,
) -> None:
    # Kept by credit note id: a redelivery counts once, and one that comes before its
    # invoice's `invoice-issued` (another topic) counts as soon as the invoice does (nothing
    # can have been paid on it before then).
    if not await rows.add_credit_note(conn, tenant_id, credit_note_id, invoice_id, amount_minor):
        return
    receivable = await rows.receivable(conn, invoice_id, lock=True)
    if receivable is None or receivable.void:
        return
    excess = receivable.paid_minor - (receivable.total_minor - receivable.credited_minor)
    for payment in await rows.refundable_payments(conn, invoice_id):
        if excess <= 0:
            break
        amount = min(excess, payment.applied_minor - payment.refunded_minor)
        moved = TakeBack(
            refund_id=_derived(credit_note_id, payment.id, "refund"),
            amount_minor=amount,
            reason=f"credit note {number} left this paid beyond the invoice's total",
            destination="credit_balance",
            event_id=_derived(credit_note_id, payment.id, "event"),
            movement_id=_derived(credit_note_id, payment.id, "movement"),
        )
        await take_back(conn, payment, moved, at)
        excess -= amount
