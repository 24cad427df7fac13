"""A Stripe webhook delivery: verified, handled once per event id, turned into a payment.

Every verified event is recorded with its outcome, so a redelivery (Stripe retries until it
gets a 2xx, and may deliver twice) changes nothing. A succeeded PaymentIntent whose invoice
payments does not know yet answers 404 and records nothing: Stripe retries it later, after
invoicing's `invoice-issued` arrived; once the event is an hour old it is recorded as
rejected instead. One that can never apply (no invoice named, another currency, an amount
that is not whole minor units) is recorded as rejected, answered 2xx, and listed for a
person to settle: no money Stripe took goes unrecorded.

A refund made in Stripe becomes a refund of the payment its PaymentIntent made, once one of
its events says it succeeded (a pending one waits for `refund.updated`). Every event about one
Stripe refund first locks that refund's `provider_refunds` row, which keeps what it became:
a second "succeeded" records nothing, a failure seen first makes a late "succeeded" change
nothing, and a failure after it was recorded pays its amount back onto the invoice (the money
is in the tenant's Stripe balance again). One that cannot apply (more than the payment still
has on its invoice, as Stripe does not know what of it went to credit balance; another
currency) is rejected and listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import pydantic

from contracts.money import MAX_MINOR
from payments.db import payments as payment_rows
from payments.db import providers as rows
from payments.domain.payments import (
    CurrencyMismatch,
    InvoiceNotFound,
    PaymentNotFound,
    RefundRefused,
)
from payments.domain.providers import (
    STRIPE,
    Outcome,
    ProviderEvent,
    RefundState,
    event_uuid,
    payment_uuid,
    refund_uuid,
    reversal_uuid,
)
from payments.domain.stripe import (
    CHARGE_REFUNDED,
    DISPUTE_MONEY_EVENTS,
    DISPUTE_REINSTATED,
    INVOICE_METADATA,
    MAX_ID_LENGTH,
    PAYMENT_SUCCEEDED,
    REFUND_EVENTS,
    REFUND_EVENTS_SINCE,
    UNMATCHED_AFTER_S,
    EventMalformed,
    PaymentIntent,
    StripeEvent,
    StripeRefund,
    WebhookNotConfigured,
    to_minor,
    verify_signature,
)
from payments.handlers.payments import RecordPayment, record_payment, refund, same_money
from payments.handlers.provider_secrets import sealer_of
from servicekit.db import Connection, savepoint
from servicekit.service import Runtime


async def receive(
    conn: Connection, runtime: Runtime, tenant_id: UUID, body: bytes, signature: str | None
) -> tuple[ProviderEvent, bool]:
    """(the event as recorded, whether this delivery was its first)."""
    settings = await rows.stripe_settings(conn, sealer_of(runtime))
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
    handled = await _handle(conn, runtime, tenant_id, event)
    recorded = ProviderEvent(
        tenant_id=tenant_id,
        id=event_uuid(tenant_id, STRIPE, event.id),
        provider=STRIPE,
        event_id=event.id,
        type=event.type,
        livemode=event.livemode,
        outcome=handled.outcome,
        detail=handled.detail,
        payment_id=handled.payment_id,
        created_at=runtime.clock(),
        refund_id=handled.refund_id,
        amount_minor=handled.reported[0],
        currency=handled.reported[1],
    )
    if not await rows.claim_event(conn, recorded):
        # The same event, delivered twice at once, recorded by the other delivery.
        stored = await rows.event(conn, STRIPE, event.id)
        assert stored is not None
        return stored, False
    return recorded, True


@dataclass(frozen=True, slots=True)
class _Handled:
    outcome: Outcome
    detail: str | None = None
    payment_id: UUID | None = None
    refund_id: UUID | None = None
    amount_minor: int | None = None  # what an applied refund took back
    # A rejected intent's money as far as it could be read: (minor units, currency).
    reported: tuple[int | None, str | None] = (None, None)


async def _handle(
    conn: Connection, runtime: Runtime, tenant_id: UUID, event: StripeEvent
) -> _Handled:
    if event.type == PAYMENT_SUCCEEDED:
        return await _pay(conn, runtime, tenant_id, event)
    # charge.refund.updated carries a Refund object like refund.updated's, on every version.
    if event.type in REFUND_EVENTS or event.type in DISPUTE_MONEY_EVENTS:
        return await _refund(conn, runtime, tenant_id, event)
    if event.type == CHARGE_REFUNDED and not event.sends_refund_events:
        version = event.api_version or f"before {REFUND_EVENTS_SINCE}"
        return _Handled(
            "rejected",
            f"this endpoint's API version ({version}) reports refunds of charges as "
            f"charge.refunded, which names no refund to apply: move the endpoint to "
            f"{REFUND_EVENTS_SINCE} or later (refund.* events) and settle this one by hand",
        )
    return _Handled("ignored", f"{event.type} events are not used")


async def _pay(conn: Connection, runtime: Runtime, tenant_id: UUID, event: StripeEvent) -> _Handled:
    cmd = _payment_of(tenant_id, event)
    if isinstance(cmd, str):
        return _rejected_intent(tenant_id, event, cmd)
    try:
        async with savepoint(conn, "stripe_payment"):
            payment = await record_payment(conn, runtime, cmd)
    except CurrencyMismatch as exc:
        return _rejected_intent(tenant_id, event, exc.detail)
    except InvoiceNotFound as exc:
        if _age_s(runtime, event) < UNMATCHED_AFTER_S:
            raise
        return _rejected_intent(tenant_id, event, f"{exc.detail} an hour after the payment")
    if not same_money(payment, cmd):
        # Recorded by hand first (`provider_payment_id`), as other money than Stripe reports.
        return _recorded_otherwise(
            tenant_id,
            event,
            f"payment intent {payment.reference} was recorded as {payment.amount_minor} "
            f"{payment.currency} on invoice {payment.invoice_id}, but Stripe reports "
            f"{cmd.amount_minor} {cmd.currency} for invoice {cmd.invoice_id}: settle the "
            "difference, then resolve this event",
        )
    return _Handled("applied", payment_id=payment.id)


def _rejected_intent(tenant_id: UUID, event: StripeEvent, why: str) -> _Handled:
    """A rejection that names the payment it would have made and the money Stripe reported:
    a person who records that payment (`provider_payment_id`) gives it that id and must
    match that money, and reconciliation then counts it settled."""
    return _Handled(
        "rejected", why, _intent_payment_id(tenant_id, event), reported=_reported_money(event)
    )


def _recorded_otherwise(tenant_id: UUID, event: StripeEvent, why: str) -> _Handled:
    """Listed until a person resolves it: it names no payment, so no recording unlists it
    (the payment it names is the one recorded, with other money)."""
    return _Handled("rejected", why, None, reported=_reported_money(event))


def _reported_money(event: StripeEvent) -> tuple[int | None, str | None]:
    """(minor units, currency) as far as they can be read: a person may record the
    PaymentIntent only when both could."""
    try:
        intent = PaymentIntent.model_validate(event.data.object)
    except pydantic.ValidationError:
        return None, None
    currency = intent.currency.upper()
    try:
        return to_minor(intent.amount_received, currency), currency
    except ValueError:
        return None, currency


def _intent_payment_id(tenant_id: UUID, event: StripeEvent) -> UUID | None:
    intent_id = event.data.object.get("id")
    if not isinstance(intent_id, str) or not 0 < len(intent_id) <= MAX_ID_LENGTH:
        return None
    return payment_uuid(tenant_id, STRIPE, intent_id)


async def _refund(
    conn: Connection, runtime: Runtime, tenant_id: UUID, event: StripeEvent
) -> _Handled:
    """A refund's or a dispute's money leaving (`succeeded`) or coming back (`failed`)."""
    kind = "dispute" if event.type in DISPUTE_MONEY_EVENTS else "refund"
    try:
        # A Dispute has the fields read here under the same names as a Refund.
        given = StripeRefund.model_validate(event.data.object)
    except pydantic.ValidationError as exc:
        return _Handled("rejected", f"{kind} {_problem(exc)}")
    if event.type == DISPUTE_REINSTATED and given.status != "won":
        # A lost dispute of a partly refunded payment gets back only the refunded part, an
        # amount in the balance's currency: not guessed here.
        return _Handled(
            "rejected",
            f"Stripe reinstated funds of dispute {given.id}, which is {given.status}: only a "
            "won dispute's whole amount is paid back here; settle this one by hand",
        )
    status = DISPUTE_MONEY_EVENTS.get(event.type) or (
        "failed" if event.type == "refund.failed" else given.status
    )
    if status not in {"succeeded", "failed", "canceled"}:
        return _Handled(
            "ignored", f"{kind} {given.id} is {status or 'without status'}; recorded if it succeeds"
        )
    if given.payment_intent is None:
        if status != "succeeded":
            return _Handled("ignored", f"{kind} {given.id} is {status}; it names no payment intent")
        return _Handled("rejected", f"{kind} {given.id} names no payment intent")
    reported = _Reported(
        tenant_id,
        event,
        given,
        payment_uuid(tenant_id, STRIPE, given.payment_intent),
        refund_uuid(tenant_id, STRIPE, given.id),
        kind,
    )
    return await _refund_reported(conn, runtime, reported, status)


@dataclass(frozen=True, slots=True)
class _Reported:
    """A `refund.*` event's refund (or a dispute's money), with the payment and refund it
    maps to here."""

    tenant_id: UUID
    event: StripeEvent
    given: StripeRefund
    payment_id: UUID
    refund_id: UUID
    kind: str  # "refund" or "dispute", for the details

    @property
    def named(self) -> str:
        return f"{self.kind} {self.given.id}"


async def _refund_reported(
    conn: Connection, runtime: Runtime, r: _Reported, status: str
) -> _Handled:
    """A refund that succeeded, failed or was canceled, against what it became so far."""
    ref, now = r.given.id, runtime.clock()
    # Locked until the end: every event about this refund waits here for the one before.
    state, recorded_minor = await rows.refund_state(conn, r.tenant_id, STRIPE, ref, now)
    if status == "succeeded":
        if state == "seen":
            return await _refund_succeeded(conn, runtime, r)
        return await _reported_again(conn, r, state, recorded_minor)
    back = "failure" if r.kind == "refund" else "reinstatement"
    if state == "failed":
        return _Handled("ignored", f"{r.named}'s {back} was handled before", r.payment_id)
    await rows.set_refund_state(conn, r.tenant_id, STRIPE, ref, "failed", now)
    if state == "rejected":
        # The money never left here, but the listed rejection said Stripe took it.
        return _Handled(
            "rejected",
            f"the {back} of {r.named}, whose money was rejected and listed: Stripe has it "
            "back, so settle the two together (net nothing)",
            r.payment_id,
        )
    if state != "recorded" or recorded_minor is None:
        nothing = f"{r.named} is {status}; nothing was taken, so nothing comes back"
        return _Handled("ignored", nothing, r.payment_id)
    return await _refund_undone(conn, runtime, r, recorded_minor)


async def _reported_again(
    conn: Connection, r: _Reported, state: RefundState, recorded_minor: int | None
) -> _Handled:
    """Money reported leaving for a refund met before; one a person recorded first must be
    the refund Stripe reports (its amount, its invoice), else it is listed."""
    if state == "recorded":
        differs = _differs(r, recorded_minor) or await _elsewhere(conn, r)
        if differs is not None:
            return differs
    return _taken_again(r, state)


def _differs(r: _Reported, recorded_minor: int | None) -> _Handled | None:
    """A refund recorded (by a person, before its events came) for another amount than
    Stripe now reports: listed, with no refund id, so reconciliation shows it unsettled."""
    try:
        reported = to_minor(r.given.amount, r.given.currency.upper())
    except ValueError:
        return None
    if recorded_minor is None or reported == recorded_minor:
        return None
    return _Handled(
        "rejected",
        f"{r.named} was recorded for {recorded_minor}, but Stripe reports {reported}: "
        "settle the difference",
        r.payment_id,
    )


async def _elsewhere(conn: Connection, r: _Reported) -> _Handled | None:
    """A refund recorded (by a person, before its events came) on another invoice than the
    one Stripe now says it refunded: listed, as `_differs`. The money left the other
    invoice's client, so this invoice still shows it paid and that one reopened."""
    recorded_on, named = await payment_rows.refund_and_payment_invoices(
        conn, r.refund_id, r.payment_id
    )
    if recorded_on is None or named is None or recorded_on == named:
        return None  # Stripe's payment not known here: nothing to compare it with
    return _Handled(
        "rejected",
        f"{r.named} was recorded on invoice {recorded_on}, but Stripe reports it refunded "
        f"payment intent {r.given.payment_intent}, of invoice {named}: settle the two "
        "invoices by hand, then resolve this event",
        r.payment_id,
    )


def _taken_again(r: _Reported, state: RefundState) -> _Handled:
    """Money reported leaving again for a refund or dispute already handled."""
    if state == "failed" and r.kind == "dispute":
        # Stripe withdraws a dispute's funds once: a second time is for a person.
        return _Handled("rejected", f"{r.named} withdrew funds again after they were reinstated")
    earlier = {
        "recorded": "was recorded before",
        "rejected": "was rejected before (listed)",
        "failed": "failed earlier: this older report changes nothing",
    }[state]
    kept = r.refund_id if state == "recorded" else None
    return _Handled("ignored", f"{r.named} {earlier}", r.payment_id, kept)


async def _refund_succeeded(conn: Connection, runtime: Runtime, r: _Reported) -> _Handled:
    handled = await _refund_applied(conn, runtime, r)
    state: RefundState = "recorded" if handled.outcome == "applied" else "rejected"
    # Recorded: what was taken; rejected: what Stripe reported, which a person recording it
    # by hand must match (`record_provider_refund`).
    amount = handled.amount_minor
    now = runtime.clock()
    await rows.set_refund_state(
        conn, r.tenant_id, STRIPE, r.given.id, state, now, r.refund_id, amount
    )
    return handled


async def _refund_applied(conn: Connection, runtime: Runtime, r: _Reported) -> _Handled:
    given, payment_id = r.given, r.payment_id
    payment = await payment_rows.payment(conn, payment_id)
    if payment is None:
        missing = f"no payment for payment intent {given.payment_intent}"
        if _age_s(runtime, r.event) < UNMATCHED_AFTER_S:
            # Its payment_intent.succeeded may not be here yet: Stripe does not keep order.
            # Raised, so the transaction (and the refund's row) is undone and Stripe retries.
            raise PaymentNotFound(missing)
        return _Handled("rejected", f"{missing} an hour after the {r.kind}")
    # A rejection names the refund id it would have had: a person who records that refund
    # (`provider_refund_id`) gives it that id, and reconciliation then counts it settled.
    currency = given.currency.upper()
    if currency != payment.currency:
        return _Handled(
            "rejected", f"the payment is in {payment.currency}", payment_id, r.refund_id
        )
    try:
        amount = to_minor(given.amount, currency)
    except ValueError as exc:
        return _Handled("rejected", str(exc), payment_id, r.refund_id)
    reason = f"Stripe {r.named}" + (f": {given.reason}" if given.reason else "")
    try:
        async with savepoint(conn, "stripe_refund"):
            await refund(conn, runtime, payment_id, amount, reason, r.refund_id, by_provider=True)
    except RefundRefused as exc:
        return _Handled("rejected", f"{r.named}: {exc.detail}", payment_id, r.refund_id, amount)
    return _Handled("applied", payment_id=payment_id, refund_id=r.refund_id, amount_minor=amount)


async def _refund_undone(
    conn: Connection, runtime: Runtime, r: _Reported, amount_minor: int
) -> _Handled:
    """A recorded refund failed at Stripe: the money is back in the tenant's Stripe balance,
    so it is paid onto the invoice again (the excess, if the invoice owes less now, to the
    client's credit balance), as a payment of its own, published like any other."""
    # The payment the refund was taken from (a person may have recorded it on a payment
    # back rather than the PaymentIntent's own): the money returns to that invoice. State
    # `recorded` is set in the transaction that stored the refund, so both are there.
    taken_from = await payment_rows.refunded_payment_id(conn, r.refund_id)
    assert taken_from is not None
    refunded = await payment_rows.payment(conn, taken_from)
    assert refunded is not None
    tenant_id, ref = r.tenant_id, r.given.id
    cmd = RecordPayment(
        tenant_id=tenant_id,
        payment_id=reversal_uuid(tenant_id, STRIPE, ref),
        invoice_id=refunded.invoice_id,
        amount_minor=amount_minor,
        currency=refunded.currency,
        method=refunded.method,
        received_at=datetime.fromtimestamp(r.event.created, UTC),
        reference=ref,
        notes=f"Stripe {r.event.id}: {r.named} {_UNDONE[r.kind]}",
        status="succeeded",
        excess="credit_balance",
    )
    back = await record_payment(conn, runtime, cmd)
    return _Handled(
        "applied",
        f"{r.named} {_UNDONE[r.kind]}: its {amount_minor} is paid back onto "
        f"the invoice by payment {back.id}",
        back.id,
        r.refund_id,
    )


_UNDONE = {
    "refund": "failed after it was recorded",
    "dispute": "was won: Stripe reinstated the funds",
}


def _age_s(runtime: Runtime, event: StripeEvent) -> float:
    return runtime.clock().timestamp() - event.created


def _problem(exc: pydantic.ValidationError) -> str:
    problem = exc.errors()[0]
    where = ".".join(str(p) for p in problem["loc"])
    return f"{where}: {problem['msg']}"


def _payment_of(tenant_id: UUID, event: StripeEvent) -> RecordPayment | str:
    """The payment a succeeded PaymentIntent makes, or why it can make none."""
    try:
        intent = PaymentIntent.model_validate(event.data.object)
    except pydantic.ValidationError as exc:
        return f"payment intent {_problem(exc)}"
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
