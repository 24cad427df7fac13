"""A Stripe webhook delivery: verified, handled once per event id, turned into a payment.

Every verified event is recorded with its outcome, so a redelivery (Stripe retries until it
gets a 2xx, and may deliver twice) changes nothing. A succeeded PaymentIntent whose invoice
payments does not know yet answers 404 and records nothing: Stripe retries it later, after
invoicing's `invoice-issued` arrived; once the event is an hour old it is recorded as
rejected instead. One that can never apply (no invoice named, another currency, an amount
that is not whole minor units) is recorded as rejected, answered 2xx, and listed for a
person to settle: no money Stripe took goes unrecorded.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pydantic

from contracts.money import MAX_MINOR
from payments.db import providers as rows
from payments.domain.payments import CurrencyMismatch, InvoiceNotFound
from payments.domain.providers import STRIPE, Outcome, ProviderEvent, event_uuid, payment_uuid
from payments.domain.stripe import (
    INVOICE_METADATA,
    PAYMENT_SUCCEEDED,
    UNMATCHED_AFTER_S,
    EventMalformed,
    PaymentIntent,
    StripeEvent,
    WebhookNotConfigured,
    to_minor,
    verify_signature,
)
from payments.handlers.payments import RecordPayment, record_payment
from servicekit.db import Connection, savepoint
from servicekit.service import Runtime


async def receive(
    conn: Connection, runtime: Runtime, tenant_id: UUID, body: bytes, signature: str | None
) -> tuple[ProviderEvent, bool]:
    """(the event as recorded, whether this delivery was its first)."""
    settings = await rows.stripe_settings(conn)
    if settings is None:
        raise WebhookNotConfigured(
            "set this tenant's Stripe endpoint secret with PUT /v1/providers/stripe first"
        )
    verify_signature(body, signature, settings.webhook_secret, runtime.clock())
    try:
        event = StripeEvent.model_validate_json(body)
    except pydantic.ValidationError as exc:
        raise EventMalformed(f"not a Stripe event: {exc.errors()[0]['msg']}") from exc
    seen = await rows.event(conn, STRIPE, event.id)
    if seen is not None:
        return seen, False
    outcome, detail, payment_id = await _handle(conn, runtime, tenant_id, event)
    recorded = ProviderEvent(
        tenant_id=tenant_id,
        id=event_uuid(tenant_id, STRIPE, event.id),
        provider=STRIPE,
        event_id=event.id,
        type=event.type,
        livemode=event.livemode,
        outcome=outcome,
        detail=detail,
        payment_id=payment_id,
        created_at=runtime.clock(),
    )
    if not await rows.claim_event(conn, recorded):
        # The same event, delivered twice at once, recorded by the other delivery.
        stored = await rows.event(conn, STRIPE, event.id)
        assert stored is not None
        return stored, False
    return recorded, True


async def _handle(
    conn: Connection, runtime: Runtime, tenant_id: UUID, event: StripeEvent
) -> tuple[Outcome, str | None, UUID | None]:
    if event.type != PAYMENT_SUCCEEDED:
        return "ignored", f"{event.type} events are not used", None
    cmd = _payment_of(tenant_id, event)
    if isinstance(cmd, str):
        return "rejected", cmd, None
    try:
        async with savepoint(conn, "stripe_payment"):
            payment = await record_payment(conn, runtime, cmd)
    except CurrencyMismatch as exc:
        return "rejected", exc.detail, None
    except InvoiceNotFound as exc:
        age = runtime.clock().timestamp() - event.created
        if age < UNMATCHED_AFTER_S:
            raise
        return "rejected", f"{exc.detail} an hour after the payment", None
    return "applied", None, payment.id


def _payment_of(tenant_id: UUID, event: StripeEvent) -> RecordPayment | str:
    """The payment a succeeded PaymentIntent makes, or why it can make none."""
    try:
        intent = PaymentIntent.model_validate(event.data.object)
    except pydantic.ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        return f"payment intent {where}: {problem['msg']}"
    try:
        invoice_id = UUID(intent.metadata.get(INVOICE_METADATA) or "")
    except ValueError:
        return f"metadata.{INVOICE_METADATA} is not an invoice id"
    currency = intent.currency.upper()
    try:
        amount = to_minor(intent.amount_received, currency)
    except ValueError as exc:
        return str(exc)
    if amount > MAX_MINOR:
        return f"amount_received is {amount} minor units, more than the {MAX_MINOR} accepted"
    return RecordPayment(
        tenant_id=tenant_id,
        payment_id=payment_uuid(tenant_id, STRIPE, intent.id),
        invoice_id=invoice_id,
        amount_minor=amount,
        currency=currency,
        method=intent.method,
        received_at=datetime.fromtimestamp(event.created, UTC),
        reference=intent.id,
        notes=f"Stripe {event.id}",
        status="succeeded",
        excess="credit_balance",
    )
