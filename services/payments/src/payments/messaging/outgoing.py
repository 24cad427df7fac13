"""Payments and refunds turned into contract events (keyed by the invoice), and credit
payouts (keyed by the client)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from contracts.envelope import EventEnvelope
from contracts.events.payments import (
    CreditPaidOut,
    PaymentMethod,
    PaymentReceived,
    PaymentRefunded,
    RefundedTo,
)
from contracts.registry import build_event
from payments.domain.credit import RefundDestination
from payments.domain.payments import Payment

PRODUCER = "payments"


def payment_received(payment: Payment, *, event_id: UUID) -> EventEnvelope[Any]:
    """The part of the payment that is on the invoice (the rest is the client's credit)."""
    assert payment.succeeded_at is not None
    payload = PaymentReceived(
        payment_id=payment.id,
        invoice_id=payment.invoice_id,
        client_id=payment.client_id,
        amount_minor=payment.applied_minor,
        currency=payment.currency,
        method=PaymentMethod(payment.method),
        received_at=payment.received_at,
        reference=payment.reference,
    )
    return build_event(
        "payment.received",
        payload,
        tenant_id=payment.tenant_id,
        producer=PRODUCER,
        event_id=event_id,
        occurred_at=payment.succeeded_at,
        correlation_id=payment.invoice_id,
    )


def payment_refunded(
    payment: Payment,
    *,
    refund_id: UUID,
    amount_minor: int,
    reason: str | None,
    destination: RefundDestination,
    at: datetime,
    event_id: UUID,
) -> EventEnvelope[Any]:
    payload = PaymentRefunded(
        refund_id=refund_id,
        payment_id=payment.id,
        invoice_id=payment.invoice_id,
        client_id=payment.client_id,
        amount_minor=amount_minor,
        currency=payment.currency,
        refunded_at=at,
        reason=reason,
        destination=RefundedTo(destination),
    )
    return build_event(
        "payment.refunded",
        payload,
        tenant_id=payment.tenant_id,
        producer=PRODUCER,
        event_id=event_id,
        occurred_at=at,
        correlation_id=payment.invoice_id,
    )


def credit_paid_out(
    *,
    tenant_id: UUID,
    payout_id: UUID,
    client_id: UUID,
    amount_minor: int,
    currency: str,
    reason: str | None,
    at: datetime,
    event_id: UUID,
) -> EventEnvelope[Any]:
    payload = CreditPaidOut(
        payout_id=payout_id,
        client_id=client_id,
        amount_minor=amount_minor,
        currency=currency,
        paid_out_at=at,
        reason=reason,
    )
    return build_event(
        "credit.paid_out",
        payload,
        tenant_id=tenant_id,
        producer=PRODUCER,
        event_id=event_id,
        occurred_at=at,
        correlation_id=client_id,
    )
