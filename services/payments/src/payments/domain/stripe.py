"""Stripe webhook deliveries: the `Stripe-Signature` check and the parts of an event we read.

The signature is Stripe's scheme: `t=<unix seconds>,v1=<hex>[,v1=<hex>...]`, each `v1` an
HMAC-SHA256 keyed by the endpoint secret over `<t>.<raw body>`. During a secret roll Stripe
signs with both secrets, so any matching `v1` passes. A timestamp further than the tolerance
from our clock, in either direction, is refused: an old one is a replay, and a future one a
forgery or a clock to fix. Tests sign with the official `stripe` library, not this code.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from payments.domain.payments import PaymentsError

TOLERANCE_S = 300
PAYMENT_SUCCEEDED = "payment_intent.succeeded"
# Metadata the integrating team sets on the PaymentIntent to say which invoice it pays.
INVOICE_METADATA = "billstream_invoice_id"


class SignatureInvalid(PaymentsError):
    status = 400
    slug = "signature-invalid"
    title = "Webhook signature does not verify"


class WebhookNotConfigured(PaymentsError):
    status = 400
    slug = "webhook-not-configured"
    title = "No webhook secret is configured for this provider"


class EventMalformed(PaymentsError):
    status = 400
    slug = "event-malformed"
    title = "Webhook body is not a Stripe event"


def verify_signature(
    payload: bytes,
    header: str | None,
    secret: str,
    now: datetime,
    tolerance_s: int = TOLERANCE_S,
) -> None:
    if not header:
        raise SignatureInvalid("no Stripe-Signature header")
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t":
            timestamps.append(value)
        elif name == "v1":
            signatures.append(value)
    if len(timestamps) != 1 or not timestamps[0].isdigit():
        raise SignatureInvalid("the Stripe-Signature header needs exactly one numeric t=")
    if not signatures:
        raise SignatureInvalid("the Stripe-Signature header has no v1 signature")
    timestamp = int(timestamps[0])
    if abs(now.timestamp() - timestamp) > tolerance_s:
        raise SignatureInvalid(
            f"the signature's timestamp is more than {tolerance_s} s from now",
            tolerance_s=tolerance_s,
        )
    signed = timestamps[0].encode() + b"." + payload
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise SignatureInvalid("no v1 signature matches this endpoint's secret")


class _Lenient(BaseModel):
    # Stripe adds fields to its objects without notice; we read only what we need.
    model_config = ConfigDict(extra="ignore")


class EventData(_Lenient):
    object: dict[str, Any]


class StripeEvent(_Lenient):
    id: str = Field(min_length=1, max_length=255)
    type: str = Field(min_length=1, max_length=255)
    created: int = Field(ge=0)
    livemode: bool = False
    data: EventData


class PaymentIntent(_Lenient):
    id: str = Field(min_length=1, max_length=255)
    amount_received: int = Field(gt=0)
    currency: str = Field(pattern=r"^[a-zA-Z]{3}$")
    metadata: dict[str, str] = Field(default_factory=dict)
    payment_method_types: list[str] = Field(default_factory=list)

    @property
    def method(self) -> str:
        """Our method for Stripe's: a card, a US bank debit (ACH), or another kind."""
        kinds = set(self.payment_method_types)
        if kinds == {"card"}:
            return "card"
        if kinds == {"us_bank_account"}:
            return "ach"
        return "other"
