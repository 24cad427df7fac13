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
import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from contracts.money import currency_exponent
from payments.domain.payments import PaymentsError

TOLERANCE_S = 300
# A delivery for an invoice we do not know is refused (Stripe retries) until the event is this
# old; then it is recorded as rejected, so money for a mistyped invoice is listed, not lost.
UNMATCHED_AFTER_S = 3600
# Checked before use: Unicode digits pass `isdigit` but not `int`, and a signature that is not
# ASCII hex makes `compare_digest` raise instead of answer.
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")
PAYMENT_SUCCEEDED = "payment_intent.succeeded"
# A refund made in Stripe (its dashboard or API) reaches us through these. Stripe sends
# `refund.created` when it is made and `refund.updated` as its status moves, so the one that
# first says `succeeded` records it; `refund.failed` comes when a refund could not be paid.
REFUND_EVENTS = frozenset(
    ["refund.created", "refund.updated", "refund.failed", "charge.refund.updated"]
)
# Refunds of charges (every card refund) come as `refund.*` events only from this API version
# (2024-10-28.acacia). An endpoint on an older one reports them as `charge.refunded` (a Charge,
# no refund id since 2022-11-15: listed for a person) and, for some payment methods,
# `charge.refund.updated` (a Refund object, in REFUND_EVENTS: handled as `refund.updated`).
REFUND_EVENTS_SINCE = "2024-10-28"
CHARGE_REFUNDED = "charge.refunded"
# A dispute moves money twice at most: Stripe takes the disputed amount from the balance, and
# gives it back if the dispute is decided for the tenant. Each is handled as a refund that
# succeeded and one that failed after it was recorded; other `charge.dispute.*` events move
# nothing (Stripe's dispute fee is not invoice money: not recorded).
DISPUTE_REINSTATED = "charge.dispute.funds_reinstated"
DISPUTE_MONEY_EVENTS = {"charge.dispute.funds_withdrawn": "succeeded", DISPUTE_REINSTATED: "failed"}
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
    signatures: list[bytes] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t":
            timestamps.append(value)
        elif name == "v1" and _HEX_SHA256.fullmatch(value):
            signatures.append(value.encode())
    if len(timestamps) != 1 or not _UNIX_SECONDS.fullmatch(timestamps[0]):
        raise SignatureInvalid("the Stripe-Signature header needs exactly one t=<unix seconds>")
    if not signatures:
        raise SignatureInvalid("the Stripe-Signature header has no v1 signature")
    timestamp = int(timestamps[0])
    if abs(now.timestamp() - timestamp) > tolerance_s:
        raise SignatureInvalid(
            f"the signature's timestamp is more than {tolerance_s} s from now",
            tolerance_s=tolerance_s,
        )
    signed = timestamps[0].encode() + b"." + payload
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest().encode()
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise SignatureInvalid("no v1 signature matches this endpoint's secret")


# Stripe's amounts are in its own unit per currency, not always ISO 4217's minor unit
# (https://docs.stripe.com/currencies): these are whole units, ISK is sent times 100 although
# it has no minor unit, and these have three decimals; every other currency has two.
STRIPE_ZERO_DECIMAL = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
STRIPE_THREE_DECIMAL = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])


def stripe_exponent(currency: str) -> int:
    if currency in STRIPE_ZERO_DECIMAL:
        return 0
    return 3 if currency in STRIPE_THREE_DECIMAL else 2


def to_minor(amount: int, currency: str) -> int:
    """Stripe's amount in ISO 4217 minor units of `currency` (upper case); ValueError when
    the currency is unknown or the amount does not convert exactly."""
    iso = currency_exponent(currency)  # UnknownCurrencyError is a ValueError
    shift = stripe_exponent(currency) - iso
    if shift <= 0:
        more: int = 10 ** (-shift)
        return amount * more
    fewer: int = 10**shift
    whole, rest = divmod(amount, fewer)
    if rest:
        raise ValueError(f"{amount} is not a whole number of {currency} minor units")
    return whole


class _Lenient(BaseModel):
    # Stripe adds fields to its objects without notice; we read only what we need.
    model_config = ConfigDict(extra="ignore")


# 9999-12-31T23:59:59Z: the last second a datetime can hold.
LAST_SECOND = 253_402_300_799


class EventData(_Lenient):
    object: dict[str, Any]


class StripeEvent(_Lenient):
    id: str = Field(min_length=1, max_length=255)
    type: str = Field(min_length=1, max_length=255)
    created: int = Field(ge=0, le=LAST_SECOND)
    livemode: bool = False
    api_version: str | None = Field(None, max_length=64)
    data: EventData

    @property
    def sends_refund_events(self) -> bool:
        """Whether this endpoint's version reports refunds of charges as `refund.*`."""
        return (self.api_version or "") >= REFUND_EVENTS_SINCE


MAX_ID_LENGTH = 255


class PaymentIntent(_Lenient):
    id: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
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


class StripeRefund(_Lenient):
    """Money Stripe gave back from a PaymentIntent (`data.object` of a `refund.*` event), or
    a Dispute's (`charge.dispute.*`: the same fields; its status `won`, `lost`, ...)."""

    id: str = Field(min_length=1, max_length=255)
    amount: int = Field(gt=0)
    currency: str = Field(pattern=r"^[a-zA-Z]{3}$")
    payment_intent: str | None = Field(None, min_length=1, max_length=255)
    # pending, requires_action, succeeded, failed or canceled; only succeeded moves money.
    status: str | None = Field(None, max_length=64)
    reason: str | None = Field(None, max_length=255)
