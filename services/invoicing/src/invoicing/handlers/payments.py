"""Payments and refunds from the payments service, applied to the invoice they name."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID, uuid5

from invoicing.db import invoices as rows
from invoicing.domain.invoices import Invoice
from invoicing.messaging import outgoing
from servicekit.consumer import EventRefused
from servicekit.db import Connection
from servicekit.outbox import enqueue_many


class UnknownInvoice(EventRefused, LookupError):
    """A payment names an invoice invoicing does not have: it goes to the dead-letter topic.
    Invoicing issues every invoice before payments can learn of it, so no retry finds it."""


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


class CurrencyMismatch(EventRefused, ValueError):
    pass


class NotPayable(EventRefused, ValueError):
    """Money for a draft or void invoice (void is final; payments learns only of issued
    invoices)."""


async def apply_money(conn: Connection, cmd: ApplyMoney) -> None:
    """Once per payment or refund id; publishes `invoice.paid` when it makes the invoice paid.

    Times come from the money (paid_at is when it was received) and the id of the event
    published is derived from the incoming one, so replaying the work yields the same event.
    """
    await apply_money_many(conn, [cmd])


async def apply_money_many(conn: Connection, cmds: Sequence[ApplyMoney]) -> None:
    """`apply_money` for each, in order, in four statements for all of them (a consumer
    batch of one tenant): their invoices locked, every command checked before anything is
    written (one refused fails the batch, which the consumer then applies one by one), the
    money recorded, the invoices updated, the `invoice.paid` events enqueued."""
    locked = await rows.locked_many(conn, sorted({c.invoice_id for c in cmds}))
    for cmd in cmds:
        _check(locked.get(cmd.invoice_id), cmd)
    fresh = await rows.add_payments(
        conn,
        [(c.money_id, c.invoice_id, c.kind, c.amount_minor, c.occurred_at) for c in cmds],
    )
    now = dict(locked)
    events = []
    for cmd in cmds:
        if cmd.money_id not in fresh:
            continue  # applied before, or earlier in this batch
        fresh.discard(cmd.money_id)
        invoice = now[cmd.invoice_id]
        delta = cmd.amount_minor if cmd.kind == "payment" else -cmd.amount_minor
        updated = invoice.with_money(paid=invoice.amount_paid_minor + delta, now=cmd.occurred_at)
        if updated.payment_status == "paid" and invoice.payment_status != "paid":
            event_id = uuid5(cmd.source_event_id, "invoice.paid")
            events.append(outgoing.invoice_paid(updated, event_id=event_id))
        now[cmd.invoice_id] = updated
    await rows.update_many(conn, [i for key, i in now.items() if i is not locked[key]])
    await enqueue_many(conn, events)


def _check(invoice: Invoice | None, cmd: ApplyMoney) -> None:
    if invoice is None:
        raise UnknownInvoice(f"no invoice {cmd.invoice_id}")
    if invoice.status != "issued":
        # The payments service keeps money for void invoices as credit; money that still
        # names one goes to the dead-letter topic, to be looked at, not silently counted.
        raise NotPayable(f"invoice {cmd.invoice_id} is {invoice.status}")
    if invoice.currency != cmd.currency:
        raise CurrencyMismatch(f"invoice is in {invoice.currency}, money in {cmd.currency}")
