"""The Stripe webhook on the real broker and Postgres, with deliveries signed by the official
`stripe` library (never by our own code)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import stripe

from payments.api import reconciliation as reconciliation_api
from servicekit.identity import IDENTITY_HEADER, Identity

from .conftest import CLIENT, Payments, pay, published, received

pytestmark = pytest.mark.integration
SECRET = "whsec_" + "a1B2c3D4" * 4
WEBHOOK = "/v1/providers/stripe/webhook"


def stripe_event(
    type: str, obj: dict[str, Any], *, event_id: str | None, created: int | None
) -> str:
    """An event as Stripe sends it (trimmed of fields we do not read, plus one we do not
    know in its object, as Stripe adds fields without notice)."""
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "api_version": "2024-06-20",
            "created": created or int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "type": type,
            "data": {"object": {**obj, "some_future_field": {"x": 1}}},
        }
    )


def intent_event(
    invoice_id: uuid.UUID | None,
    amount: int,
    *,
    event_id: str | None = None,
    intent_id: str | None = None,
    currency: str = "eur",
    type: str = "payment_intent.succeeded",
    created: int | None = None,
) -> str:
    metadata = {} if invoice_id is None else {"billstream_invoice_id": str(invoice_id)}
    intent = {
        "id": intent_id or f"pi_{uuid.uuid4().hex[:24]}",
        "object": "payment_intent",
        "amount": amount,
        "amount_received": amount,
        "currency": currency,
        "metadata": metadata,
        "payment_method_types": ["card"],
        "status": "succeeded",
    }
    return stripe_event(type, intent, event_id=event_id, created=created)


def refund_event(
    intent_id: str | None,
    amount: int,
    *,
    refund_id: str,
    status: str = "succeeded",
    type: str = "refund.updated",
    currency: str = "eur",
    created: int | None = None,
) -> str:
    refund = {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "charge": f"ch_{uuid.uuid4().hex[:24]}",
        "created": int(time.time()),
        "currency": currency,
        "metadata": {},
        "payment_intent": intent_id,
        "reason": "requested_by_customer",
        "status": status,
    }
    return stripe_event(type, refund, event_id=None, created=created)


def dispute_event(
    intent_id: str, amount: int, *, dispute_id: str, type: str, status: str = "needs_response"
) -> str:
    """A `charge.dispute.*` event as Stripe sends it, trimmed as `intent_event`."""
    dispute = {
        "id": dispute_id,
        "object": "dispute",
        "amount": amount,
        "charge": f"ch_{uuid.uuid4().hex[:24]}",
        "currency": "eur",
        "is_charge_refundable": False,
        "payment_intent": intent_id,
        "reason": "fraudulent",
        "status": status,
    }
    return stripe_event(type, dispute, event_id=None, created=None)


def signed(payload: str, secret: str = SECRET, at: int | None = None) -> dict[str, str]:
    header = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=at)
    return {"Stripe-Signature": header, "Content-Type": "application/json"}


def as_provider(payments: Payments, tenant_id: uuid.UUID) -> httpx.AsyncClient:
    token = payments.infra.token(Identity(tenant_id, f"provider:stripe:{tenant_id}", "provider"))
    return httpx.AsyncClient(
        base_url=payments.url,
        headers={IDENTITY_HEADER: token},
        params={"tenant_id": str(tenant_id)},
        timeout=15,
    )


async def deliver(hook: httpx.AsyncClient, payload: str) -> dict[str, Any]:
    """`payload` signed as Stripe signs it; the event as recorded (it must be accepted)."""
    r = await hook.post(WEBHOOK, content=payload, headers=signed(payload))
    assert r.status_code == 200, r.text
    return dict(r.json()["event"])


def refund_failed(intent: str, amount: int, ref: str) -> str:
    return refund_event(intent, amount, refund_id=ref, status="failed", type="refund.failed")


def around_today() -> dict[str, str]:
    """A reconciliation period holding what came today (or just before midnight)."""
    today = datetime.now(UTC).date()
    return {
        "period_start": str(today - timedelta(days=1)),
        "period_end": str(today + timedelta(days=1)),
    }


async def configured(payments: Payments, tenant_id: uuid.UUID) -> None:
    await payments.client(tenant_id)
    async with payments.http(tenant_id) as http:
        r = await http.put("/v1/providers/stripe", json={"webhook_secret": SECRET})
    assert r.status_code == 200, r.text


async def payments_of(payments: Payments, tenant_id: uuid.UUID, invoice_id: uuid.UUID) -> Any:
    async with payments.http(tenant_id) as http:
        r = await http.get("/v1/payments", params={"invoice_id": str(invoice_id)})
    return r.json()["items"]


async def test_settings_show_a_hint_only_and_validate_the_secret(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    async with payments.http(tenant_id) as http:
        missing = await http.get("/v1/providers/stripe")
        bad = await http.put("/v1/providers/stripe", json={"webhook_secret": "sk_live_x"})
        first = await http.put("/v1/providers/stripe", json={"webhook_secret": SECRET})
        rolled = await http.put("/v1/providers/stripe", json={"webhook_secret": SECRET + "Z"})
        shown = await http.get("/v1/providers/stripe")
    async with payments.http(tenant_id, "viewer") as viewer:
        refused = await viewer.put("/v1/providers/stripe", json={"webhook_secret": SECRET})
    assert missing.status_code == 404
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["pointer"] == "#/webhook_secret"
    assert first.json()["version"] == 1
    assert rolled.json()["version"] == 2
    assert shown.json()["secret_hint"] == "whsec_…3D4Z"
    assert SECRET not in shown.text
    assert refused.status_code == 403


async def test_a_succeeded_intent_becomes_one_payment_however_often_it_is_delivered(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    await configured(payments, tenant_id)
    invoice_id = await payments.invoice(tenant_id, 5000)
    intent = f"pi_{uuid.uuid4().hex[:24]}"
    payload = intent_event(invoice_id, 6000, intent_id=intent)
    # The same PaymentIntent reported again under another event id pays nothing twice.
    other_event = intent_event(invoice_id, 6000, intent_id=intent)
    async with as_provider(payments, tenant_id) as hook:
        first = await hook.post(WEBHOOK, content=payload, headers=signed(payload))
        again = await hook.post(WEBHOOK, content=payload, headers=signed(payload))
        other = await hook.post(WEBHOOK, content=other_event, headers=signed(other_event))
    assert first.status_code == 200, first.text
    assert (first.json()["duplicate"], first.json()["event"]["outcome"]) == (False, "applied")
    assert again.json()["duplicate"] is True
    assert again.json()["event"] == first.json()["event"]
    assert other.json()["event"]["payment_id"] == first.json()["event"]["payment_id"]
    [payment] = await payments_of(payments, tenant_id, invoice_id)
    assert (payment["reference"], payment["method"], payment["status"]) == (
        intent,
        "card",
        "succeeded",
    )
    assert (payment["applied_minor"], payment["to_credit_minor"]) == (5000, 1000)
    events = await received(payments, invoice_id, 1)
    assert [e.amount_minor for e in events] == [5000]
    # The repeated intent found its payment stored and moved no money again.
    assert await payments.paid_minor(tenant_id, invoice_id) == 5000
    async with payments.http(tenant_id) as http:
        balance = (await http.get(f"/v1/clients/{CLIENT}/credit-balance")).json()
    assert balance["balances"] == [{"currency": "EUR", "balance_minor": 1000, "movements": 1}]


async def test_unverifiable_deliveries_are_refused_and_record_nothing(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    async with as_provider(payments, tenant_id) as hook:
        payload = intent_event(uuid.uuid4(), 100)
        unconfigured = await hook.post(WEBHOOK, content=payload, headers=signed(payload))
    await configured(payments, tenant_id)
    invoice_id = await payments.invoice(tenant_id, 5000)
    payload = intent_event(invoice_id, 5000)
    stale_at = int(time.time()) - 301
    tampered = payload.replace('"amount_received": 5000', '"amount_received": 50')
    async with as_provider(payments, tenant_id) as hook:
        answers = {
            "wrong secret": await hook.post(
                WEBHOOK, content=payload, headers=signed(payload, "whsec_other0000")
            ),
            "stale": await hook.post(
                WEBHOOK, content=payload, headers=signed(payload, at=stale_at)
            ),
            "future": await hook.post(
                WEBHOOK, content=payload, headers=signed(payload, at=int(time.time()) + 301)
            ),
            "tampered": await hook.post(WEBHOOK, content=tampered, headers=signed(payload)),
            "unsigned": await hook.post(WEBHOOK, content=payload),
            "garbled header": await hook.post(
                WEBHOOK, content=payload, headers={"Stripe-Signature": "t=x,v1"}
            ),
        }
        not_json = "not an event"
        malformed = await hook.post(WEBHOOK, content=not_json, headers=signed(not_json))
    assert unconfigured.status_code == 400
    assert unconfigured.json()["type"].endswith("/webhook-not-configured")
    for why, r in answers.items():
        assert r.status_code == 400, (why, r.text)
        assert r.json()["type"].endswith("/signature-invalid"), (why, r.text)
    assert malformed.status_code == 400
    assert malformed.json()["type"].endswith("/event-malformed")
    assert await payments_of(payments, tenant_id, invoice_id) == []
    async with payments.http(tenant_id) as http:
        events = (await http.get("/v1/providers/stripe/events")).json()["items"]
    assert events == []


async def test_a_rolled_secret_verifies_either_signature_stripe_sends(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    await configured(payments, tenant_id)
    invoice_id = await payments.invoice(tenant_id, 700)
    payload = intent_event(invoice_id, 700)
    at = int(time.time())
    old = signed(payload, "whsec_previous000", at)["Stripe-Signature"]
    new = signed(payload, SECRET, at)["Stripe-Signature"]
    # During a roll Stripe puts one v1 per live secret in the one header.
    both = f"{old},{new.split(',', 1)[1]}"
    async with as_provider(payments, tenant_id) as hook:
        r = await hook.post(WEBHOOK, content=payload, headers={"Stripe-Signature": both})
    assert r.status_code == 200, r.text
    assert r.json()["event"]["outcome"] == "applied"


async def test_an_invoice_not_known_yet_is_retried_and_unusable_events_are_listed(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    await configured(payments, tenant_id)
    early = uuid.uuid4()
    payload = intent_event(early, 900)
    no_invoice = intent_event(None, 900)
    elsewhere = await payments.invoice(tenant_id, 900)
    dollars = intent_event(elsewhere, 900, currency="usd")
    created = intent_event(elsewhere, 900, type="payment_intent.created")
    async with as_provider(payments, tenant_id) as hook:
        before = await hook.post(WEBHOOK, content=payload, headers=signed(payload))
        await payments.invoice(tenant_id, 900, invoice_id=early)
        retried = await hook.post(WEBHOOK, content=payload, headers=signed(payload))
        outcomes = [
            (await hook.post(WEBHOOK, content=p, headers=signed(p))).json()["event"]["outcome"]
            for p in (no_invoice, dollars, created)
        ]
    async with payments.http(tenant_id) as http:
        rejected = (
            await http.get("/v1/providers/stripe/events", params={"outcome": "rejected"})
        ).json()["items"]
        user_on_webhook = await http.post(WEBHOOK, params={"tenant_id": str(tenant_id)})
    async with as_provider(payments, tenant_id) as hook:
        provider_elsewhere = await hook.get("/v1/payments")
    # Stripe retries any non-2xx; the first delivery recorded nothing, so the retry applies.
    assert before.status_code == 404
    assert retried.json()["event"]["outcome"] == "applied"
    assert outcomes == ["rejected", "rejected", "ignored"]
    assert sorted(e["detail"] for e in rejected) == [
        "metadata.billstream_invoice_id is not an invoice id",
        "the invoice is in EUR",
    ]
    assert await payments_of(payments, tenant_id, elsewhere) == []
    assert user_on_webhook.status_code == 403
    assert provider_elsewhere.status_code == 403


async def test_stripe_units_become_minor_units_and_an_unknown_invoice_is_listed_after_an_hour(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    await configured(payments, tenant_id)
    krona = await payments.invoice(tenant_id, 500, currency="ISK")  # 500 kr, no minor unit
    isk = intent_event(krona, 50000, currency="isk")  # Stripe sends ISK times 100
    odd = intent_event(krona, 50050, currency="isk")
    old = intent_event(uuid.uuid4(), 900, created=int(time.time()) - 3601)
    async with as_provider(payments, tenant_id) as hook:
        paid = await hook.post(WEBHOOK, content=isk, headers=signed(isk))
        fraction = await hook.post(WEBHOOK, content=odd, headers=signed(odd))
        unmatched = await hook.post(WEBHOOK, content=old, headers=signed(old))
    assert paid.json()["event"]["outcome"] == "applied", paid.text
    [payment] = await payments_of(payments, tenant_id, krona)
    assert (payment["amount_minor"], payment["currency"]) == (500, "ISK")
    assert fraction.json()["event"]["outcome"] == "rejected"
    assert "not a whole number" in fraction.json()["event"]["detail"]
    assert unmatched.status_code == 200, unmatched.text
    assert unmatched.json()["event"]["outcome"] == "rejected"
    assert "an hour after the payment" in unmatched.json()["event"]["detail"]


async def test_signed_events_out_of_range_are_refused_or_rejected_never_a_500(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    await configured(payments, tenant_id)
    invoice_id = await payments.invoice(tenant_id, 500)
    past_year_9999 = intent_event(invoice_id, 500, created=253_402_300_800)
    huge = intent_event(invoice_id, 10**17)
    async with as_provider(payments, tenant_id) as hook:
        too_late = await hook.post(WEBHOOK, content=past_year_9999, headers=signed(past_year_9999))
        too_much = await hook.post(WEBHOOK, content=huge, headers=signed(huge))
    assert too_late.status_code == 400, too_late.text
    assert too_late.json()["type"].endswith("/event-malformed")
    assert too_much.status_code == 200, too_much.text
    assert too_much.json()["event"]["outcome"] == "rejected"
    assert "more than the 1000000000000000 accepted" in too_much.json()["event"]["detail"]
    assert await payments_of(payments, tenant_id, invoice_id) == []


async def test_one_event_delivered_twice_at_once_makes_one_payment(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    await configured(payments, tenant_id)
    invoice_id = await payments.invoice(tenant_id, 2000)
    payload = intent_event(invoice_id, 2000)
    async with as_provider(payments, tenant_id) as hook:
        answers = await asyncio.gather(
            *(hook.post(WEBHOOK, content=payload, headers=signed(payload)) for _ in range(3))
        )
    assert [r.status_code for r in answers] == [200, 200, 200], [r.text for r in answers]
    assert sorted(r.json()["duplicate"] for r in answers) == [False, True, True]
    assert len({r.json()["event"]["payment_id"] for r in answers}) == 1
    assert len(await payments_of(payments, tenant_id, invoice_id)) == 1
    assert len(await received(payments, invoice_id, 2)) == 1


async def paid_by_stripe(
    payments: Payments, tenant_id: uuid.UUID, owed: int, amount: int
) -> tuple[uuid.UUID, str, str]:
    """(invoice, PaymentIntent id, payment id) of an invoice paid through the webhook."""
    invoice_id = await payments.invoice(tenant_id, owed)
    intent = f"pi_{uuid.uuid4().hex[:24]}"
    payload = intent_event(invoice_id, amount, intent_id=intent)
    async with as_provider(payments, tenant_id) as hook:
        r = await hook.post(WEBHOOK, content=payload, headers=signed(payload))
    assert r.json()["event"]["outcome"] == "applied", r.text
    return invoice_id, intent, r.json()["event"]["payment_id"]


async def test_a_refund_made_in_stripe_refunds_its_payment_once(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    await configured(payments, tenant_id)
    invoice_id, intent, payment_id = await paid_by_stripe(payments, tenant_id, 5000, 5000)
    re = f"re_{uuid.uuid4().hex[:24]}"
    pending = refund_event(intent, 2000, refund_id=re, status="pending", type="refund.created")
    succeeded = refund_event(intent, 2000, refund_id=re)
    # Stripe may tell the same succeeded refund twice (another event id): one refund.
    told_again = refund_event(intent, 2000, refund_id=re)
    async with as_provider(payments, tenant_id) as hook:
        answers = [
            await hook.post(WEBHOOK, content=p, headers=signed(p))
            for p in (pending, succeeded, succeeded, told_again)
        ]
    assert [r.status_code for r in answers] == [200] * 4, [r.text for r in answers]
    first_pending, applied, redelivered, again = (r.json() for r in answers)
    assert first_pending["event"]["outcome"] == "ignored"
    assert "pending; recorded if it succeeds" in first_pending["event"]["detail"]
    assert (applied["event"]["outcome"], applied["event"]["payment_id"]) == ("applied", payment_id)
    assert applied["event"]["refund_id"] is not None
    assert redelivered["duplicate"] is True
    assert (again["event"]["outcome"], again["event"]["detail"]) == (
        "ignored",
        f"refund {re} was recorded before",
    )
    assert again["event"]["refund_id"] == applied["event"]["refund_id"]
    async with payments.http(tenant_id) as http:
        payment = (await http.get(f"/v1/payments/{payment_id}")).json()
    assert payment["refunded_minor"] == 2000
    assert await payments.paid_minor(tenant_id, invoice_id) == 3000
    [event] = await published(payments, "payment-refunded", invoice_id, 2)
    assert event.amount_minor == 2000
    assert event.reason == f"Stripe refund {re}: requested_by_customer"
    assert str(event.refund_id) == applied["event"]["refund_id"]


async def test_stripe_refunds_that_cannot_apply_are_listed_never_lost(
    payments: Payments, tenant_id: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    await configured(payments, tenant_id)
    # 1,000 of the 6,000 went to credit balance: only 5,000 can come off the invoice.
    invoice_id, intent, payment_id = await paid_by_stripe(payments, tenant_id, 5000, 6000)
    unknown_intent = f"pi_{uuid.uuid4().hex[:24]}"
    old_version = json.loads(intent_event(None, 100, type="charge.refunded"))
    old_version["api_version"] = "2024-06-20"
    new_version = {**old_version, "id": f"evt_{uuid.uuid4().hex[:24]}"}
    new_version["api_version"] = "2025-03-31.basil"
    cases = {
        "more than is on the invoice": refund_event(intent, 6000, refund_id="re_all"),
        "another currency": refund_event(intent, 100, refund_id="re_usd", currency="usd"),
        "no payment intent": refund_event(None, 100, refund_id="re_none"),
        "pending, no payment intent": refund_event(None, 100, refund_id="re_p", status="pending"),
        "of a payment that never came, an hour on": refund_event(
            unknown_intent, 100, refund_id="re_old", created=int(time.time()) - 3601
        ),
        "charge.refunded from an old endpoint": json.dumps(old_version),
        "charge.refund.updated, read as refund.updated": refund_event(
            intent, 300, refund_id="re_cru", status="pending", type="charge.refund.updated"
        ),
        "charge.refunded from a new endpoint": json.dumps(new_version),
    }
    async with as_provider(payments, tenant_id) as hook:
        answers = {
            why: (await hook.post(WEBHOOK, content=p, headers=signed(p))).json()["event"]
            for why, p in cases.items()
        }
    outcomes = {why: (e["outcome"], e["detail"]) for why, e in answers.items()}
    assert outcomes == {
        "more than is on the invoice": (
            "rejected",
            "refund re_all: at most 5000 of this payment can be refunded",
        ),
        "another currency": ("rejected", "the payment is in EUR"),
        "no payment intent": ("rejected", "refund re_none names no payment intent"),
        "pending, no payment intent": (
            "ignored",
            "refund re_p is pending; recorded if it succeeds",
        ),
        "of a payment that never came, an hour on": (
            "rejected",
            f"no payment for payment intent {unknown_intent} an hour after the refund",
        ),
        "charge.refunded from an old endpoint": (
            "rejected",
            "this endpoint's API version (2024-06-20) reports refunds of charges as "
            "charge.refunded, which names no refund to apply: move the endpoint to 2024-10-28 "
            "or later (refund.* events) and settle this one by hand",
        ),
        "charge.refund.updated, read as refund.updated": (
            "ignored",
            "refund re_cru is pending; recorded if it succeeds",
        ),
        "charge.refunded from a new endpoint": ("ignored", "charge.refunded events are not used"),
    }
    async with payments.http(tenant_id) as http:
        payment = (await http.get(f"/v1/payments/{payment_id}")).json()
        listed = (
            await http.get("/v1/providers/stripe/events", params={"outcome": "rejected"})
        ).json()["items"]
    assert payment["refunded_minor"] == 0
    assert await payments.paid_minor(tenant_id, invoice_id) == 5000
    assert len(listed) == 5
    # Reconciliation lists them too, tenant-wide, for the day they came.
    period = around_today()
    async with payments.http(tenant_id) as http:
        whole = (await http.get("/v1/reconciliation", params=period)).json()
        one_client = (
            await http.get("/v1/reconciliation", params={**period, "client_id": str(CLIENT)})
        ).json()
    unsettled = whole["unsettled_provider_events"]
    assert sorted(e["event_id"] for e in unsettled) == sorted(e["event_id"] for e in listed)
    assert "refund re_all: at most 5000 of this payment can be refunded" in {
        e["detail"] for e in unsettled
    }
    assert whole["more_unsettled_provider_events"] is False
    assert one_client["unsettled_provider_events"] is None
    monkeypatch.setattr(reconciliation_api, "SHOWN", 2)
    async with payments.http(tenant_id) as http:
        capped = (await http.get("/v1/reconciliation", params=period)).json()
    assert len(capped["unsettled_provider_events"]) == 2
    assert capped["more_unsettled_provider_events"] is True
    assert capped["unsettled_provider_events"] == unsettled[:2]  # oldest first
    assert await published(payments, "payment-refunded", invoice_id, 1) == []


async def test_a_refund_of_a_payment_not_here_yet_applies_when_stripe_retries(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    await configured(payments, tenant_id)
    invoice_id = await payments.invoice(tenant_id, 900)
    intent = f"pi_{uuid.uuid4().hex[:24]}"
    paid = intent_event(invoice_id, 900, intent_id=intent)
    refunded = refund_event(intent, 400, refund_id=f"re_{uuid.uuid4().hex[:24]}")
    async with as_provider(payments, tenant_id) as hook:
        early = await hook.post(WEBHOOK, content=refunded, headers=signed(refunded))
        await hook.post(WEBHOOK, content=paid, headers=signed(paid))
        retried = await hook.post(WEBHOOK, content=refunded, headers=signed(refunded))
    # Refused so Stripe retries, and nothing recorded: the retry is no duplicate.
    assert early.status_code == 404, early.text
    assert early.json()["type"].endswith("/payment-not-found")
    assert (retried.json()["duplicate"], retried.json()["event"]["outcome"]) == (False, "applied")
    assert await payments.paid_minor(tenant_id, invoice_id) == 500


async def test_a_failed_refund_never_takes_money_and_one_failing_later_pays_it_back(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    await configured(payments, tenant_id)
    invoice_id, intent, payment_id = await paid_by_stripe(payments, tenant_id, 5000, 5000)
    first, second, raced = (f"re_{uuid.uuid4().hex[:24]}" for _ in range(3))

    def failed(ref: str) -> str:
        return refund_failed(intent, 1000, ref)

    async with as_provider(payments, tenant_id) as hook:
        # Stripe keeps no order: the failure of `first` comes before its "succeeded".
        failure_first = await deliver(hook, failed(first))
        stale = await deliver(hook, refund_event(intent, 1000, refund_id=first))
        # `second` is recorded, then fails: told twice (refund.updated and refund.failed).
        recorded = await deliver(hook, refund_event(intent, 1500, refund_id=second))
        undone = await deliver(hook, failed(second))
        told_again = await deliver(
            hook,
            refund_event(intent, 1500, refund_id=second, status="failed", type="refund.updated"),
        )
        # Both reports of `raced` at once: whichever wins, no money moves in the end.
        await asyncio.gather(
            deliver(hook, refund_event(intent, 700, refund_id=raced)), deliver(hook, failed(raced))
        )
    assert failure_first["outcome"] == "ignored"
    assert stale["detail"] == f"refund {first} failed earlier: this older report changes nothing"
    assert recorded["outcome"] == "applied"
    assert undone["outcome"] == "applied"
    assert undone["detail"].startswith(f"refund {second} failed after it was recorded: its 1500")
    assert told_again["detail"] == f"refund {second}'s failure was handled before"
    assert await payments.paid_minor(tenant_id, invoice_id) == 5000
    found = {p["id"]: p for p in await payments_of(payments, tenant_id, invoice_id)}
    payback = found[undone["payment_id"]]
    assert (payback["amount_minor"], payback["applied_minor"], payback["reference"]) == (
        1500,
        1500,
        second,
    )
    # The race's winner decides how many events there are: its refund and payback, or none.
    raced_too = len(found) == 3
    refunds = await published(payments, "payment-refunded", invoice_id, 1 + raced_too)
    paid_in = await published(payments, "payment-received", invoice_id, 2 + raced_too)
    assert (len(refunds), len(paid_in)) == (1 + raced_too, 2 + raced_too)
    # Money out less money back: what each race left behind nets to zero.
    assert sum(e.amount_minor for e in paid_in) - sum(e.amount_minor for e in refunds) == 5000
    assert found[payment_id]["refunded_minor"] == sum(e.amount_minor for e in refunds)
    # The refunds of the payment say what Stripe made of each; `first` never took money.
    async with payments.http(tenant_id) as http:
        listed = (await http.get(f"/v1/payments/{payment_id}/refunds")).json()["items"]
    by_ref = {r["provider_refund_id"]: r for r in listed}
    assert first not in by_ref
    assert {k: by_ref[second][k] for k in ("amount_minor", "provider", "provider_state")} == {
        "amount_minor": 1500,
        "provider": "stripe",
        "provider_state": "failed",
    }
    assert len(listed) == 1 + raced_too


async def test_stripe_money_is_refunded_in_stripe_not_through_the_api(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    await configured(payments, tenant_id)
    invoice_id, intent, payment_id = await paid_by_stripe(payments, tenant_id, 5000, 5000)
    re = f"re_{uuid.uuid4().hex[:24]}"
    async with as_provider(payments, tenant_id) as hook:
        for payload in (
            refund_event(intent, 1000, refund_id=re),
            refund_failed(intent, 1000, re),
        ):
            await deliver(hook, payload)
    found = {p["id"]: p for p in await payments_of(payments, tenant_id, invoice_id)}
    [payback_id] = set(found) - {payment_id}
    # An operator's payment that names a PaymentIntent is still money recorded here.
    other_invoice = await payments.invoice(tenant_id, 800)
    async with payments.http(tenant_id) as http:
        manual = await http.post("/v1/payments", json=pay(other_invoice, 800, reference=intent))
        assert manual.status_code == 201, manual.text
        refused = [
            await http.post(f"/v1/payments/{pid}/refunds", json={"amount_minor": 100})
            for pid in (payment_id, payback_id)
        ]
        manual_refund = await http.post(
            f"/v1/payments/{manual.json()['id']}/refunds", json={"amount_minor": 300}
        )

    for r, ref in zip(refused, (intent, re), strict=True):
        assert r.status_code == 409, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"].endswith("/refund-at-provider")
        assert f"held by stripe ({ref}): refund it there" in r.json()["detail"]
        assert (r.json()["provider"], r.json()["reference"]) == ("stripe", ref)
    assert manual_refund.status_code == 201, manual_refund.text
    # Nothing was taken: the payment keeps what Stripe's refund and its failure left.
    assert await payments.paid_minor(tenant_id, invoice_id) == 5000
    after = {p["id"]: p for p in await payments_of(payments, tenant_id, invoice_id)}
    assert (after[payment_id]["refunded_minor"], after[payback_id]["refunded_minor"]) == (1000, 0)
    assert len(await published(payments, "payment-refunded", invoice_id, 2)) == 1


async def test_a_stripe_refund_its_events_could_not_apply_is_recorded_by_naming_it(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    await configured(payments, tenant_id)
    invoice_id, intent, payment_id = await paid_by_stripe(payments, tenant_id, 5000, 5000)
    undone, again, failed_first = (f"re_{uuid.uuid4().hex[:24]}" for _ in range(3))

    async with as_provider(payments, tenant_id) as hook:
        # All of it refunded, then the refund failed: the money is back, on a payment back.
        await deliver(hook, refund_event(intent, 5000, refund_id=undone))
        payback_id = (await deliver(hook, refund_failed(intent, 5000, undone)))["payment_id"]
        # Refunded again in Stripe: its events find nothing left on the PaymentIntent's payment.
        listed = await deliver(hook, refund_event(intent, 2000, refund_id=again))
        await deliver(hook, refund_failed(intent, 700, failed_first))
    assert listed["outcome"] == "rejected"
    assert await payments.paid_minor(tenant_id, invoice_id) == 5000
    period = around_today()

    async def unsettled() -> set[str]:
        async with payments.http(tenant_id) as http:
            found = (await http.get("/v1/reconciliation", params=period)).json()
        return {e["event_id"] for e in found["unsettled_provider_events"]}

    assert listed["event_id"] in await unsettled()

    manual = await payments.invoice(tenant_id, 900)
    other_invoice, _, other_stripe_payment = await paid_by_stripe(payments, tenant_id, 800, 800)
    async with payments.http(tenant_id) as http:

        async def by_hand(pid: str, amount: int, ref: str) -> httpx.Response:
            body = {"amount_minor": amount, "provider_refund_id": ref}
            return await http.post(f"/v1/payments/{pid}/refunds", json=body)

        not_as_reported = await by_hand(payback_id, 1500, again)
        elsewhere = await by_hand(other_stripe_payment, 2000, again)
        recorded = await by_hand(payback_id, 2000, again)
        repeated = await by_hand(payback_id, 2000, again)
        on_another = await by_hand(payment_id, 2000, again)
        other_amount = await by_hand(payback_id, 1500, again)
        of_failed = await by_hand(payback_id, 700, failed_first)
        paid_here = await http.post("/v1/payments", json=pay(manual, 900))
        not_stripe = await by_hand(paid_here.json()["id"], 100, f"re_{uuid.uuid4().hex}")
        malformed = await by_hand(payback_id, 100, "ch_123")

    assert not_as_reported.status_code == 409
    assert not_as_reported.json()["detail"] == f"{again} was reported for 2000"
    assert elsewhere.status_code == 409
    assert (
        f"{again} refunded payment {payment_id}, of invoice {invoice_id}"
        in (elsewhere.json()["detail"])
    )
    assert await payments.paid_minor(tenant_id, other_invoice) == 800
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["refunded_minor"] == 2000
    assert repeated.status_code == 201
    assert repeated.json()["refund_id"] == recorded.json()["refund_id"]
    assert on_another.status_code == 409
    assert on_another.json()["detail"] == f"{again} was recorded before, on payment {payback_id}"
    assert other_amount.status_code == 409
    assert other_amount.json()["errors"][0]["pointer"] == "#/amount_minor"
    assert of_failed.status_code == 409
    assert f"{failed_first} failed at stripe" in of_failed.json()["detail"]
    assert not_stripe.status_code == 422
    assert not_stripe.json()["errors"][0]["pointer"] == "#/provider_refund_id"
    assert malformed.status_code == 422
    assert await payments.paid_minor(tenant_id, invoice_id) == 3000
    # Recorded by hand, the rejected event is settled: reconciliation lists it no more.
    assert recorded.json()["refund_id"] == listed["refund_id"]
    assert listed["event_id"] not in await unsettled()

    # Stripe tells it again (recorded: nothing moves), then that it failed (paid back once).
    async with as_provider(payments, tenant_id) as hook:
        told = refund_event(intent, 2000, refund_id=again, type="refund.updated")
        told_again = await deliver(hook, told)
        assert told_again["detail"] == f"refund {again} was recorded before"
        assert await payments.paid_minor(tenant_id, invoice_id) == 3000
        paid_back = await deliver(hook, refund_failed(intent, 2000, again))
    assert paid_back["detail"].startswith(f"refund {again} failed after it was recorded")
    assert await payments.paid_minor(tenant_id, invoice_id) == 5000
    refunds = await published(payments, "payment-refunded", invoice_id, 2)
    assert sorted(e.amount_minor for e in refunds) == [2000, 5000]


async def test_a_refund_recorded_before_stripe_reports_it_must_match_what_stripe_reports(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    await configured(payments, tenant_id)
    invoice_id, intent, payment_id = await paid_by_stripe(payments, tenant_id, 5000, 5000)
    early = f"re_{uuid.uuid4().hex[:24]}"
    async with payments.http(tenant_id) as http:
        body = {"amount_minor": 1000, "provider_refund_id": early}
        recorded = await http.post(f"/v1/payments/{payment_id}/refunds", json=body)
    assert recorded.status_code == 201, recorded.text
    told = refund_event(intent, 1200, refund_id=early)
    async with as_provider(payments, tenant_id) as hook:
        event = await deliver(hook, told)
    assert (event["outcome"], event["refund_id"]) == ("rejected", None)
    assert event["detail"] == (
        f"refund {early} was recorded for 1000, but Stripe reports 1200: settle the difference"
    )
    assert await payments.paid_minor(tenant_id, invoice_id) == 4000
    period = around_today()
    async with payments.http(tenant_id) as http:
        found = (await http.get("/v1/reconciliation", params=period)).json()
    assert event["event_id"] in {e["event_id"] for e in found["unsettled_provider_events"]}


async def test_a_rejected_payment_intent_is_recorded_by_naming_it_and_is_then_stripes(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    await configured(payments, tenant_id)
    invoice_id = await payments.invoice(tenant_id, 5000)
    intent = f"pi_{uuid.uuid4().hex[:24]}"
    async with as_provider(payments, tenant_id) as hook:
        # The checkout forgot the metadata: Stripe has the money, no invoice here holds it.
        rejected = await deliver(hook, intent_event(None, 5000, intent_id=intent))
    assert rejected["outcome"] == "rejected"
    body = {**pay(invoice_id, 5000), "method": "card", "provider_payment_id": intent}
    async with payments.http(tenant_id) as http:
        listed = (await http.get("/v1/reconciliation", params=around_today())).json()
        wrong_reference = await http.post("/v1/payments", json={**body, "reference": "x"})
        pending = await http.post("/v1/payments", json={**body, "status": "pending"})
        bad_id = await http.post("/v1/payments", json={**body, "provider_payment_id": "ch_1"})
        never_listed = await http.post(
            "/v1/payments", json={**body, "provider_payment_id": f"pi_{uuid.uuid4().hex[:24]}"}
        )
        other_amount = await http.post("/v1/payments", json={**body, "amount_minor": 4000})
        recorded = await http.post("/v1/payments", json=body)
        again = await http.post("/v1/payments", json=body)
        refund_here = await http.post(
            f"/v1/payments/{recorded.json()['id']}/refunds", json={"amount_minor": 100}
        )
        settled = (await http.get("/v1/reconciliation", params=around_today())).json()
    unsettled = [e["event_id"] for e in listed["unsettled_provider_events"]]
    assert rejected["event_id"] in unsettled
    for refused, pointer in ((wrong_reference, "#/reference"), (pending, "#/status")):
        assert refused.status_code == 422, refused.text
        assert [e["pointer"] for e in refused.json()["errors"]] == [pointer]
    assert bad_id.status_code == 422
    assert recorded.status_code == 201, recorded.text
    # The id Stripe's events derive, which the rejected event names.
    assert recorded.json()["id"] == rejected["payment_id"]
    assert (recorded.json()["reference"], recorded.json()["applied_minor"]) == (intent, 5000)
    assert (again.status_code, again.json()["id"]) == (201, recorded.json()["id"])
    # Only a listed PaymentIntent, and for the money Stripe reported.
    for refused, pointer in (
        (never_listed, "#/provider_payment_id"),
        (other_amount, "#/amount_minor"),
    ):
        assert refused.status_code == 409, refused.text
        assert refused.json()["type"].endswith("/provider-payment-refused")
        assert [e["pointer"] for e in refused.json()["errors"]] == [pointer]
    assert refund_here.status_code == 409
    assert refund_here.json()["type"].endswith("/refund-at-provider")
    assert rejected["event_id"] not in {e["event_id"] for e in settled["unsettled_provider_events"]}
    assert await payments.paid_minor(tenant_id, invoice_id) == 5000
    # Stripe's own refund of it now finds its payment.
    async with as_provider(payments, tenant_id) as hook:
        refund = f"re_{uuid.uuid4().hex[:24]}"
        refunded = await deliver(hook, refund_event(intent, 1000, refund_id=refund))
    assert (refunded["outcome"], refunded["payment_id"]) == ("applied", recorded.json()["id"])
    assert await payments.paid_minor(tenant_id, invoice_id) == 4000
    # Another event of that PaymentIntent, reporting other money: listed, nothing moves.
    async with as_provider(payments, tenant_id) as hook:
        differs = await deliver(hook, intent_event(invoice_id, 6000, intent_id=intent))
    assert differs["outcome"] == "rejected"
    assert differs["detail"].startswith(f"payment intent {intent} was recorded as 5000 EUR")
    assert await payments.paid_minor(tenant_id, invoice_id) == 4000
    async with payments.http(tenant_id) as http:
        later = (await http.get("/v1/reconciliation", params=around_today())).json()
    assert differs["event_id"] in {e["event_id"] for e in later["unsettled_provider_events"]}
    # An intent whose money cannot be read (no such currency) is not recorded by naming it.
    unreadable = f"pi_{uuid.uuid4().hex[:24]}"
    async with as_provider(payments, tenant_id) as hook:
        odd = await deliver(hook, intent_event(None, 5000, intent_id=unreadable, currency="zzz"))
    assert odd["outcome"] == "rejected"
    async with payments.http(tenant_id) as http:
        named = await http.post("/v1/payments", json={**body, "provider_payment_id": unreadable})
    assert named.status_code == 409, named.text
    assert "could not be read" in named.json()["detail"]
    # Resolved by hand: a recorded one answers its payment again, an unrecorded one is 409.
    settled_by_hand = f"pi_{uuid.uuid4().hex[:24]}"
    async with as_provider(payments, tenant_id) as hook:
        handled = await deliver(hook, intent_event(None, 700, intent_id=settled_by_hand))
    events = "/v1/providers/stripe/events"
    note = {"note": "paid back outside Billstream"}
    async with payments.http(tenant_id) as http:
        for e in (rejected["id"], handled["id"]):
            assert (await http.post(f"{events}/{e}/resolution", json=note)).status_code == 200
        retried = await http.post("/v1/payments", json=body)
        late = await http.post(
            "/v1/payments",
            json={**body, "amount_minor": 700, "provider_payment_id": settled_by_hand},
        )
    assert (retried.status_code, retried.json()["id"]) == (201, recorded.json()["id"])
    assert late.status_code == 409
    assert "resolved by hand" in late.json()["detail"]


async def test_a_refund_recorded_by_hand_on_another_invoice_than_stripe_names_is_listed(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    await configured(payments, tenant_id)
    wrong_invoice, _, wrong_payment = await paid_by_stripe(payments, tenant_id, 5000, 5000)
    invoice_id, intent, _ = await paid_by_stripe(payments, tenant_id, 3000, 3000)
    ref = f"re_{uuid.uuid4().hex[:24]}"
    # Refunded in Stripe from `intent`, but recorded by hand, first, on the other payment.
    async with payments.http(tenant_id) as http:
        body = {"amount_minor": 1000, "provider_refund_id": ref}
        recorded = await http.post(f"/v1/payments/{wrong_payment}/refunds", json=body)
    assert recorded.status_code == 201, recorded.text
    async with as_provider(payments, tenant_id) as hook:
        event = await deliver(hook, refund_event(intent, 1000, refund_id=ref))
        told_again = await deliver(hook, refund_event(intent, 1000, refund_id=ref))
    assert (event["outcome"], event["refund_id"]) == ("rejected", None)
    assert event["detail"] == (
        f"refund {ref} was recorded on invoice {wrong_invoice}, but Stripe reports it "
        f"refunded payment intent {intent}, of invoice {invoice_id}: settle the two invoices "
        "by hand, then resolve this event"
    )
    assert told_again["outcome"] == "rejected"  # listed again (resolve each), nothing moves
    assert await payments.paid_minor(tenant_id, wrong_invoice) == 4000
    assert await payments.paid_minor(tenant_id, invoice_id) == 3000
    async with payments.http(tenant_id) as http:
        found = (await http.get("/v1/reconciliation", params=around_today())).json()
    unsettled = {e["event_id"] for e in found["unsettled_provider_events"]}
    assert event["event_id"] in unsettled


async def test_a_refund_recorded_by_hand_while_stripe_reports_it_is_taken_once(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    await configured(payments, tenant_id)
    invoice_id, intent, payment_id = await paid_by_stripe(payments, tenant_id, 5000, 5000)
    refs = [f"re_{uuid.uuid4().hex[:24]}" for _ in range(3)]
    async with payments.http(tenant_id) as http, as_provider(payments, tenant_id) as hook:

        async def by_hand(ref: str) -> httpx.Response:
            body = {"amount_minor": 500, "provider_refund_id": ref}
            return await http.post(f"/v1/payments/{payment_id}/refunds", json=body)

        # The person and Stripe at once, for each refund: whichever takes its row first
        # records it; the other finds it recorded.
        answers = await asyncio.gather(
            *(
                call
                for ref in refs
                for call in (by_hand(ref), deliver(hook, refund_event(intent, 500, refund_id=ref)))
            )
        )
    recorded = answers[0::2]
    assert [r.status_code for r in recorded] == [201] * 3, [r.text for r in recorded]
    assert await payments.paid_minor(tenant_id, invoice_id) == 5000 - 3 * 500
    found = {p["id"]: p for p in await payments_of(payments, tenant_id, invoice_id)}
    assert found[payment_id]["refunded_minor"] == 1500
    assert len(await published(payments, "payment-refunded", invoice_id, 4)) == 3


async def test_a_dispute_takes_its_money_off_the_invoice_and_a_won_one_puts_it_back(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    await configured(payments, tenant_id)
    invoice_id, intent, payment_id = await paid_by_stripe(payments, tenant_id, 5000, 5000)
    dp = f"dp_{uuid.uuid4().hex[:24]}"
    opened = dispute_event(intent, 2000, dispute_id=dp, type="charge.dispute.created")
    withdrawn = dispute_event(intent, 2000, dispute_id=dp, type="charge.dispute.funds_withdrawn")
    again = dispute_event(intent, 2000, dispute_id=dp, type="charge.dispute.funds_withdrawn")
    reinstated = dispute_event(
        intent, 2000, dispute_id=dp, type="charge.dispute.funds_reinstated", status="won"
    )
    async with as_provider(payments, tenant_id) as hook:
        events = []
        for p in (opened, withdrawn, again):
            r = await hook.post(WEBHOOK, content=p, headers=signed(p))
            assert r.status_code == 200, r.text
            events.append(r.json()["event"])
        during = await payments.paid_minor(tenant_id, invoice_id)
        won = (await hook.post(WEBHOOK, content=reinstated, headers=signed(reinstated))).json()
    assert [(e["outcome"], e["detail"]) for e in events] == [
        ("ignored", "charge.dispute.created events are not used"),
        ("applied", None),
        ("ignored", f"dispute {dp} was recorded before"),
    ]
    assert during == 3000
    assert won["event"]["outcome"] == "applied"
    assert won["event"]["detail"].startswith(
        f"dispute {dp} was won: Stripe reinstated the funds: its 2000"
    )
    assert await payments.paid_minor(tenant_id, invoice_id) == 5000
    [taken] = await published(payments, "payment-refunded", invoice_id, 2)
    assert (taken.amount_minor, taken.reason) == (2000, f"Stripe dispute {dp}: fraudulent")
    assert str(taken.payment_id) == payment_id


async def test_dispute_money_that_cannot_be_matched_is_listed_with_its_pair(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    await configured(payments, tenant_id)
    invoice_id, intent, _ = await paid_by_stripe(payments, tenant_id, 5000, 5000)
    lost, too_big = (f"dp_{uuid.uuid4().hex[:24]}" for _ in range(2))
    withdrawn, reinstated = "charge.dispute.funds_withdrawn", "charge.dispute.funds_reinstated"
    sequence = [
        dispute_event(intent, 1000, dispute_id=lost, type=withdrawn),
        # Lost, yet Stripe gave part back (a partly refunded payment): not guessed here.
        dispute_event(intent, 1000, dispute_id=lost, type=reinstated, status="lost"),
        # More than the payment has left on its invoice: listed, then its reinstatement too.
        dispute_event(intent, 9000, dispute_id=too_big, type=withdrawn),
        dispute_event(intent, 9000, dispute_id=too_big, type=reinstated, status="won"),
    ]
    async with as_provider(payments, tenant_id) as hook:
        outcomes = [
            (await hook.post(WEBHOOK, content=p, headers=signed(p))).json()["event"]
            for p in sequence
        ]
    assert [(e["outcome"], e["detail"]) for e in outcomes] == [
        ("applied", None),
        (
            "rejected",
            f"Stripe reinstated funds of dispute {lost}, which is lost: only a won dispute's "
            "whole amount is paid back here; settle this one by hand",
        ),
        ("rejected", f"dispute {too_big}: at most 4000 of this payment can be refunded"),
        (
            "rejected",
            f"the reinstatement of dispute {too_big}, whose money was rejected and listed: "
            "Stripe has it back, so settle the two together (net nothing)",
        ),
    ]
    assert await payments.paid_minor(tenant_id, invoice_id) == 4000
    # The pair nets nothing, so no recording settles it: a person resolves both, with why.
    pair = [outcomes[2]["id"], outcomes[3]["id"]]
    note = {"note": f"dispute {too_big} withdrawn and reinstated: nets nothing"}
    events = "/v1/providers/stripe/events"
    async with payments.http(tenant_id) as http, payments.http(tenant_id, "member") as member:
        listed = (await http.get("/v1/reconciliation", params=around_today())).json()
        not_a_manager = await member.post(f"{events}/{pair[0]}/resolution", json=note)
        resolved = [(await http.post(f"{events}/{e}/resolution", json=note)) for e in pair]
        again = await http.post(f"{events}/{pair[0]}/resolution", json=note)
        other_note = await http.post(f"{events}/{pair[0]}/resolution", json={"note": "other"})
        applied = await http.post(f"{events}/{outcomes[0]['id']}/resolution", json=note)
        unknown = await http.post(f"{events}/{uuid.uuid4()}/resolution", json=note)
        empty = await http.post(f"{events}/{pair[1]}/resolution", json={"note": ""})
        read = (await http.get(f"{events}/{pair[1]}")).json()
        open_items = await http.get(events, params={"outcome": "rejected", "resolved": "false"})
        after = (await http.get("/v1/reconciliation", params=around_today())).json()

    def unsettled(report: dict[str, Any]) -> set[str]:
        return {e["id"] for e in report["unsettled_provider_events"]}

    assert set(pair) <= unsettled(listed)
    assert not_a_manager.status_code == 403
    assert [r.status_code for r in resolved] == [200, 200], resolved[0].text
    assert resolved[0].json()["resolution_note"] == note["note"]
    assert resolved[0].json()["resolved_by"] == "tester:admin"
    assert (again.status_code, again.json()) == (200, resolved[0].json())
    assert other_note.status_code == 409
    assert other_note.json()["type"].endswith("/resolution-refused")
    assert applied.status_code == 409
    assert unknown.status_code == 404
    assert empty.status_code == 422
    assert read == resolved[1].json()
    assert not set(pair) & {e["id"] for e in open_items.json()["items"]}
    assert outcomes[1]["id"] in {e["id"] for e in open_items.json()["items"]}
    assert not set(pair) & unsettled(after)
    assert outcomes[1]["id"] in unsettled(after)  # the lost dispute's is still to settle
