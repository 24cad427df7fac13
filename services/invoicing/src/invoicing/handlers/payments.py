"""Payments and refunds from the payments service, applied to the invoice they name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID, uuid5

from invoicing.db import invoices as rows
from invoicing.messaging import outgoing
from servicekit.db import Connection
from servicekit.outbox import enqueue


class UnknownInvoice(LookupError):
    """A payment names an invoice invoicing does not have: it goes to the dead-letter topic."""


@dataclass(frozen=True, slots=True)
class ApplyMoney:
    """Command: add a payment to (or take a refund from) an invoice's amount paid."""

    tenant_id: UUID
    money_id: UUID
    invoice_id: UUID
    kind: Literal["payment", "refund"]
    amount_minor: int
    currency: str
    occurred_at: datetime
    source_event_id: UUID


class CurrencyMismatch(ValueError):
    pass


class NotPayable(ValueError):
    """Money for a draft or void invoice."""


async def apply_money(conn: Connection, cmd: ApplyMoney) -> None:
    """Once per payment or refund id; publishes `invoice.paid` when it makes the invoice paid.

    Times come from the money (paid_at is when it was received) and the id of the event
    published is derived from the incoming one, so replaying the work yields the same event.
    """
    invoice = await rows.get(conn, cmd.invoice_id, lock=True)
    if invoice is None:
        raise UnknownInvoice(f"no invoice {cmd.invoice_id}")
    if invoice.status != "issued":
        # The payments service keeps money for void invoices as credit; money that still
        # names one goes to the dead-letter topic, to be looked at, not silently counted.
        raise NotPayable(f"invoice {cmd.invoice_id} is {invoice.status}")
    if invoice.currency != cmd.currency:
        raise CurrencyMismatch(f"invoice is in {invoice.currency}, money in {cmd.currency}")
    added = await rows.add_payment(
        conn,
        cmd.tenant_id,
        cmd.money_id,
        cmd.invoice_id,
        cmd.kind,
        cmd.amount_minor,
        cmd.occurred_at,
    )
    if not added:
        return
    delta = cmd.amount_minor if cmd.kind == "payment" else -cmd.amount_minor
    updated = invoice.with_money(paid=invoice.amount_paid_minor + delta, now=cmd.occurred_at)
    await rows.update(conn, updated)
    if updated.payment_status == "paid" and invoice.payment_status != "paid":
        event_id = uuid5(cmd.source_event_id, "invoice.paid")
        await enqueue(conn, outgoing.invoice_paid(updated, event_id=event_id))
