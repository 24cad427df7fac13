"""Record payments, settle pending ones, refund; each in the caller's tenant transaction."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from contracts.envelope import EventEnvelope
from payments.db import payments as rows
from payments.domain.credit import CREDIT_METHOD, RefundDestination
from payments.domain.payments import (
    CurrencyMismatch,
    Excess,
    InvoiceNotFound,
    Payment,
    PaymentNotFound,
    RefundRefused,
    Status,
    TransitionRefused,
    apportion,
    refundable,
)
from payments.domain.providers import RefundAtProvider, provider_of
from payments.messaging import outgoing
from servicekit.db import Connection
from servicekit.outbox import enqueue
from servicekit.service import Runtime


@dataclass(frozen=True, slots=True)
class RecordPayment:
    """Command: money received (or, when pending, on its way) for one invoice."""

    tenant_id: UUID
    # Chosen before the transaction: a retry after a lost COMMIT finds it and does nothing.
    payment_id: UUID
    invoice_id: UUID
    amount_minor: int
    currency: str
    method: str
    received_at: datetime
    reference: str | None
    notes: str | None
    status: Status
    excess: Excess


def same_money(payment: Payment, cmd: RecordPayment) -> bool:
    """Whether a payment found under `cmd`'s id (`record_payment` answers the stored one)
    is the money `cmd` records: its invoice, amount and currency."""
    return (payment.invoice_id, payment.amount_minor, payment.currency) == (
        cmd.invoice_id,
        cmd.amount_minor,
        cmd.currency,
    )


async def record_payment(conn: Connection, runtime: Runtime, cmd: RecordPayment) -> Payment:
    now = runtime.clock()
    receivable = await rows.receivable(conn, cmd.invoice_id, lock=True)
    if receivable is None:
        raise InvoiceNotFound(f"no issued invoice {cmd.invoice_id}")
    if receivable.currency != cmd.currency:
        raise CurrencyMismatch(
            f"the invoice is in {receivable.currency}",
            errors=[{"pointer": "#/currency", "detail": f"must be {receivable.currency}"}],
        )
    applied, to_credit = apportion(cmd.amount_minor, receivable.owed_minor, cmd.excess)
    payment = Payment(
        tenant_id=cmd.tenant_id,
        id=cmd.payment_id,
        invoice_id=cmd.invoice_id,
        client_id=receivable.client_id,
        currency=cmd.currency,
        amount_minor=cmd.amount_minor,
        applied_minor=applied,
        to_credit_minor=to_credit,
        refunded_minor=0,
        method=cmd.method,
        excess=cmd.excess,
        received_at=cmd.received_at,
        reference=cmd.reference,
        notes=cmd.notes,
        status="pending",
        version=1,
        created_at=now,
        updated_at=now,
        succeeded_at=None,
        failed_at=None,
    )
    if cmd.status == "succeeded":
        # Stored in its final state at once: one write, not an insert and an update.
        payment = _succeeded(payment, now, version=1)
        inserted = await store_succeeded(conn, runtime, payment, now)
    else:
        inserted = await rows.insert_payment(conn, payment)
    if not inserted:
        stored = await rows.payment(conn, cmd.payment_id)
        assert stored is not None
        return stored
    return payment


async def settle(conn: Connection, runtime: Runtime, payment_id: UUID, outcome: Status) -> Payment:
    """A pending payment succeeded (its money is apportioned again, against what the
    invoice owes now) or failed (nothing moves)."""
    now = runtime.clock()
    payment = await _locked(conn, payment_id)
    if payment.status != "pending":
        raise TransitionRefused(f"a {payment.status} payment cannot become {outcome}")
    if outcome == "failed":
        failed = dataclasses.replace(
            payment, status="failed", failed_at=now, version=payment.version + 1, updated_at=now
        )
        await rows.update_payment(conn, failed)
        return failed
    receivable = await rows.receivable(conn, payment.invoice_id, lock=False)  # locked above
    assert receivable is not None
    applied, to_credit = apportion(payment.amount_minor, receivable.owed_minor, payment.excess)
    return await succeed(
        conn,
        runtime,
        dataclasses.replace(payment, applied_minor=applied, to_credit_minor=to_credit),
        now,
    )


def _succeeded(payment: Payment, now: datetime, *, version: int) -> Payment:
    return dataclasses.replace(
        payment, status="succeeded", succeeded_at=now, version=version, updated_at=now
    )


async def succeed(conn: Connection, runtime: Runtime, payment: Payment, now: datetime) -> Payment:
    """A stored pending payment succeeds, and its money moves."""
    done = _succeeded(payment, now, version=payment.version + 1)
    await rows.update_payment(conn, done)
    await move_money(conn, runtime, done, now)
    return done


async def store_succeeded(conn: Connection, runtime: Runtime, done: Payment, now: datetime) -> bool:
    """A new succeeded payment stored with its money moved (as `move_money`, the stored row,
    the receivable and the event in one statement); False, with nothing written, when it was
    stored before."""
    if not await rows.insert_succeeded(conn, done, _received(runtime, done)):
        return False
    await _excess_to_credit(conn, runtime, done, now)
    return True


async def move_money(conn: Connection, runtime: Runtime, done: Payment, now: datetime) -> None:
    """A succeeded payment's applied part onto its invoice (published), the rest to credit."""
    if (event := _received(runtime, done)) is not None:
        await rows.add_paid(conn, done.invoice_id, done.applied_minor)
        await enqueue(conn, event)
    await _excess_to_credit(conn, runtime, done, now)


def _received(runtime: Runtime, done: Payment) -> EventEnvelope[Any] | None:
    """`payment.received` for the part applied to the invoice; none when all went to credit."""
    if not done.applied_minor:
        return None
    return outgoing.payment_received(done, event_id=runtime.new_id())


async def _excess_to_credit(
    conn: Connection, runtime: Runtime, done: Payment, now: datetime
) -> None:
    if done.to_credit_minor:
        await rows.add_credit(
            conn, done.tenant_id, runtime.new_id(), done, done.to_credit_minor, now
        )


async def refund(  # noqa: PLR0917
    conn: Connection,
    runtime: Runtime,
    payment_id: UUID,
    amount_minor: int,
    reason: str | None,
    refund_id: UUID,
    *,
    by_provider: bool = False,
) -> tuple[Payment, UUID]:
    """Give back part of what a payment put on its invoice; publishes `payment.refunded`.
    `refund_id` is chosen before the transaction, so a retry after a lost COMMIT is a no-op.

    Money a provider holds is refunded there, and recorded from its events (`by_provider`):
    refunded here as well, the provider's own refund of it would be taken off twice."""
    now = runtime.clock()
    payment = await _locked(conn, payment_id)
    if await rows.refund_exists(conn, refund_id):
        return payment, refund_id
    if not by_provider and (provider := provider_of(payment)) is not None:
        raise RefundAtProvider(
            f"this payment's money is held by {provider} ({payment.reference}): refund it "
            f"there, and the refund is recorded from {provider}'s events; to record one they "
            "could not apply, name it in provider_refund_id",
            provider=provider,
            reference=payment.reference,
        )
    if payment.status != "succeeded":
        raise RefundRefused(f"a {payment.status} payment has nothing to refund")
    left = refundable(payment.applied_minor, payment.refunded_minor)
    if amount_minor > left:
        raise RefundRefused(
            f"at most {left} of this payment can be refunded",
            errors=[{"pointer": "#/amount_minor", "detail": f"at most {left}"}],
        )
    # Money that came from the client's credit goes back there, not out to the client.
    destination: RefundDestination = (
        "credit_balance" if payment.method == CREDIT_METHOD else "client"
    )
    taken = TakeBack(
        refund_id, amount_minor, reason, destination, runtime.new_id(), runtime.new_id()
    )
    return await take_back(conn, payment, taken, now), refund_id


async def _locked(conn: Connection, payment_id: UUID) -> Payment:
    """The payment, locked after its invoice's receivable: every writer takes the two in
    that order (a payment, a refund, a credit note), so none waits on another in a cycle."""
    found = await rows.payment(conn, payment_id)
    if found is None:
        raise PaymentNotFound(f"no payment {payment_id}")
    await rows.receivable(conn, found.invoice_id, lock=True)
    locked = await rows.payment(conn, payment_id, lock=True)
    assert locked is not None
    return locked


@dataclass(frozen=True, slots=True)
class TakeBack:
    """Money off an invoice: to the client (a refund) or into their credit balance."""

    refund_id: UUID
    amount_minor: int
    reason: str | None
    destination: RefundDestination
    event_id: UUID | None  # None: not published (invoicing never counted this money)
    movement_id: UUID


async def take_back(conn: Connection, payment: Payment, t: TakeBack, now: datetime) -> Payment:
    """Part of what `payment` put on its invoice comes off it, published as
    `payment.refunded`; the caller holds the locks and checked the amount is refundable."""
    refunded = dataclasses.replace(
        payment,
        refunded_minor=payment.refunded_minor + t.amount_minor,
        version=payment.version + 1,
        updated_at=now,
    )
    if not await rows.insert_refund(
        conn, payment.tenant_id, t.refund_id, payment, t.amount_minor, t.reason, now,
        t.destination,
    ):  # fmt: skip
        # Every caller makes sure first that this refund is new (a refund looks for its id
        # under the locks; a void or a credit note records its cause once): moving the money
        # again would count it twice, so the transaction fails instead.
        raise RuntimeError(f"refund {t.refund_id} is stored already")
    await rows.update_payment(conn, refunded)
    await rows.add_paid(conn, payment.invoice_id, -t.amount_minor)
    if t.destination == "credit_balance":
        await rows.add_credit(
            conn, payment.tenant_id, t.movement_id, payment, t.amount_minor, now, "returned",
            t.refund_id,
        )  # fmt: skip
    if t.event_id is not None:
        event = outgoing.payment_refunded(
            refunded,
            refund_id=t.refund_id,
            amount_minor=t.amount_minor,
            reason=t.reason,
            destination=t.destination,
            at=now,
            event_id=t.event_id,
        )
        await enqueue(conn, event)
    return refunded
