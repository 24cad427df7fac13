"""Events turned into commands at the edge; the kit supplies the transaction and dedup."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from contracts.envelope import EventEnvelope
from contracts.events.clients import ClientState
from contracts.events.payments import PaymentReceived, PaymentRefunded
from contracts.events.projects import ProjectState
from contracts.events.time_entries import TimeEntryState
from invoicing.db import replicas
from invoicing.domain.ledger import RecordTimeEntry, action_for
from invoicing.handlers import ledger as handlers
from invoicing.handlers import payments
from servicekit.db import Connection


def _command(event: EventEnvelope[Any]) -> RecordTimeEntry:
    assert isinstance(event.payload, TimeEntryState)
    return RecordTimeEntry(
        tenant_id=event.tenant_id,
        source_event_id=event.event_id,
        action=action_for(event.event_type),
        state=event.payload,
    )


async def on_time_entry_logged(conn: Connection, event: EventEnvelope[Any]) -> None:
    await handlers.record_time_entry(conn, _command(event))


async def on_time_entries_logged(conn: Connection, events: Sequence[EventEnvelope[Any]]) -> None:
    """The set-based form of `on_time_entry_logged`, for a batch of one tenant's events."""
    await handlers.record_time_entries(conn, [_command(e) for e in events])


async def on_client_changed(conn: Connection, event: EventEnvelope[Any]) -> None:
    assert isinstance(event.payload, ClientState)
    await replicas.record_client(conn, event.tenant_id, event.payload)


async def on_project_changed(conn: Connection, event: EventEnvelope[Any]) -> None:
    assert isinstance(event.payload, ProjectState)
    await replicas.record_project(conn, event.tenant_id, event.payload)


def _payment(event: EventEnvelope[Any]) -> payments.ApplyMoney:
    p = event.payload
    assert isinstance(p, PaymentReceived)
    return payments.ApplyMoney(
        tenant_id=event.tenant_id,
        money_id=p.payment_id,
        invoice_id=p.invoice_id,
        kind="payment",
        amount_minor=p.amount_minor,
        currency=p.currency,
        occurred_at=p.received_at,
        source_event_id=event.event_id,
    )


def _refund(event: EventEnvelope[Any]) -> payments.ApplyMoney:
    p = event.payload
    assert isinstance(p, PaymentRefunded)
    return payments.ApplyMoney(
        tenant_id=event.tenant_id,
        money_id=p.refund_id,
        invoice_id=p.invoice_id,
        kind="refund",
        amount_minor=p.amount_minor,
        currency=p.currency,
        occurred_at=p.refunded_at,
        source_event_id=event.event_id,
    )


async def on_payment_received(conn: Connection, event: EventEnvelope[Any]) -> None:
    await payments.apply_money(conn, _payment(event))


async def on_payments_received(conn: Connection, events: Sequence[EventEnvelope[Any]]) -> None:
    await payments.apply_money_many(conn, [_payment(e) for e in events])


async def on_payment_refunded(conn: Connection, event: EventEnvelope[Any]) -> None:
    await payments.apply_money(conn, _refund(event))


async def on_payments_refunded(conn: Connection, events: Sequence[EventEnvelope[Any]]) -> None:
    await payments.apply_money_many(conn, [_refund(e) for e in events])
