"""Payment providers: a tenant's settings for one, and the events it delivered."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from payments.domain.payments import Payment, PaymentsError
from servicekit.problems import ConflictError, NotFoundError

Outcome = Literal["applied", "ignored", "rejected"]
# A provider's refund as we met it: not acted on yet, refunded here, refused (listed), or
# failed at the provider (final: a later "succeeded" is stale).
RefundState = Literal["seen", "recorded", "rejected", "failed"]
STRIPE = "stripe"
# Ids derived from what the provider names, so a redelivery lands on the same rows.
_NAMESPACE = uuid.UUID("6f1d8c1e-4b7a-4a4e-9d55-0c1b5a6e2f10")


class ProviderSettingsNotFound(PaymentsError, NotFoundError):
    slug = "provider-not-configured"
    title = "No settings for this provider"


class SecretKeysNotConfigured(PaymentsError):
    # 503, not 4xx: the operator must act, and Stripe retries a delivery answered 5xx.
    status = 503
    slug = "secret-keys-not-configured"
    title = "Payments has no key to seal or open provider secrets"


class SecretUnreadable(PaymentsError):
    status = 503
    slug = "secret-unreadable"
    title = "The stored provider secret does not open with the configured keys"


@dataclass(frozen=True, slots=True)
class StripeSettings:
    tenant_id: UUID
    webhook_secret: str
    version: int
    updated_at: datetime

    @property
    def secret_hint(self) -> str:
        """Enough to tell two secrets apart, never enough to use one."""
        return f"{self.webhook_secret[:6]}…{self.webhook_secret[-4:]}"


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    tenant_id: UUID
    id: UUID
    provider: str
    event_id: str
    type: str
    livemode: bool
    outcome: Outcome
    detail: str | None
    payment_id: UUID | None
    created_at: datetime
    refund_id: UUID | None = None
    # A rejected event a person resolved by hand (`POST .../events/{id}/resolution`).
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution_note: str | None = None
    # What a rejected payment_intent.succeeded reported: the money a person recording it
    # by hand must match.
    amount_minor: int | None = None
    currency: str | None = None


def event_uuid(tenant_id: UUID, provider: str, event_id: str) -> UUID:
    return uuid.uuid5(_NAMESPACE, f"{tenant_id}:{provider}:event:{event_id}")


def payment_uuid(tenant_id: UUID, provider: str, payment_ref: str) -> UUID:
    """One payment per provider payment (a PaymentIntent), whichever event reports it."""
    return uuid.uuid5(_NAMESPACE, f"{tenant_id}:{provider}:payment:{payment_ref}")


def refund_uuid(tenant_id: UUID, provider: str, refund_ref: str) -> UUID:
    """One refund per provider refund, however many of its events say it succeeded."""
    return uuid.uuid5(_NAMESPACE, f"{tenant_id}:{provider}:refund:{refund_ref}")


class EventNotFound(PaymentsError, NotFoundError):
    slug = "provider-event-not-found"
    title = "Provider event not found"


class ResolutionRefused(PaymentsError, ConflictError):
    slug = "resolution-refused"
    title = "This provider event cannot be resolved so"


class RefundAtProvider(PaymentsError, ConflictError):
    slug = "refund-at-provider"
    title = "Refund this payment at its provider"


def provider_of(payment: Payment) -> str | None:
    """The provider that holds this payment's money: one made from its events (a
    PaymentIntent, or the payment back of a refund that failed there). Told by the id, which
    only those events derive (`payment_uuid`, `reversal_uuid`); a payment recorded through
    the API has an id of its own, whatever its reference says."""
    ref = payment.reference
    if ref is None:
        return None
    derived = (
        payment_uuid(payment.tenant_id, STRIPE, ref),
        reversal_uuid(payment.tenant_id, STRIPE, ref),
    )
    return STRIPE if payment.id in derived else None


def reversal_uuid(tenant_id: UUID, provider: str, refund_ref: str) -> UUID:
    """The payment that puts back what a recorded refund took, when the provider's refund
    failed afterwards."""
    return uuid.uuid5(_NAMESPACE, f"{tenant_id}:{provider}:refund-failed:{refund_ref}")
