"""Spend a client's credit balance on their open invoices, or pay it out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from payments.db import credit as credit_rows
from payments.db import payments as rows
from payments.domain.credit import (
    CREDIT_METHOD,
    CreditApplicationNotFound,
    CreditRefundRefused,
    NothingToApply,
    allocate,
)
from payments.domain.payments import ClientNotFound, InvoiceNotFound, Payment, Receivable
from payments.handlers.payments import store_succeeded
from payments.messaging import outgoing
from servicekit.db import Connection
from servicekit.outbox import enqueue
from servicekit.problems import FieldInvalid
from servicekit.service import Runtime


@dataclass(frozen=True, slots=True)
class ApplyCredit:
    """Command: spend up to `cap_minor` (default: all) of the balance in `currency` on the
    invoices named, in their order, or on every open invoice, oldest due first."""

    tenant_id: UUID
    application_id: UUID  # chosen before the transaction, like a payment's id
    client_id: UUID
    currency: str
    invoice_ids: tuple[UUID, ...] | None
    cap_minor: int | None


@dataclass(frozen=True, slots=True)
class Application:
    id: UUID
    client_id: UUID
    currency: str
    applied_minor: int
    created_at: datetime
    payments: list[Payment]
    balance_minor: int


async def apply_credit(conn: Connection, runtime: Runtime, cmd: ApplyCredit) -> Application:
    if await credit_rows.application(conn, cmd.application_id) is not None:
        return await application(conn, cmd.application_id)
    if not await rows.client_known(conn, cmd.client_id):
        raise ClientNotFound(f"no client {cmd.client_id}")
    if cmd.invoice_ids is not None:
        _check_unique(cmd.invoice_ids)
    balance = await credit_rows.lock_balance(conn, cmd.client_id, cmd.currency)
    if await credit_rows.application(conn, cmd.application_id) is not None:
        # A retry that waited for the lock while its first attempt committed: done already.
        return await application(conn, cmd.application_id)
    if balance <= 0:
        raise NothingToApply(f"the client has no credit balance in {cmd.currency}")
    if cmd.invoice_ids is None:
        order = await credit_rows.open_invoices(conn, cmd.client_id, cmd.currency)
    else:
        order = list(cmd.invoice_ids)
    receivables = await credit_rows.lock_receivables(conn, order)
    if cmd.invoice_ids is not None:
        _check_named(cmd, receivables)
    amounts = allocate(balance, [receivables[i].owed_minor for i in order], cmd.cap_minor)
    if not any(amounts):
        raise NothingToApply(f"no invoice named owes anything in {cmd.currency}")
    now = runtime.clock()
    applied = sum(amounts)
    await credit_rows.insert_application(
        conn, cmd.tenant_id, cmd.application_id, cmd.client_id, cmd.currency, applied, now
    )
    made = []
    for invoice_id, amount in zip(order, amounts, strict=True):
        if amount:
            made.append(await _pay_from_credit(conn, runtime, cmd, receivables[invoice_id], amount))
    return Application(
        cmd.application_id, cmd.client_id, cmd.currency, applied, now, made, balance - applied
    )


def _check_unique(invoice_ids: tuple[UUID, ...]) -> None:
    # Each invoice's share is allocated from what it owes once: named twice, it would be paid
    # twice what it owes.
    seen: set[UUID] = set()
    for i, invoice_id in enumerate(invoice_ids):
        if invoice_id in seen:
            raise FieldInvalid(f"invoice_ids/{i}", f"invoice {invoice_id} is named twice")
        seen.add(invoice_id)


def _check_named(cmd: ApplyCredit, receivables: dict[UUID, Receivable]) -> None:
    assert cmd.invoice_ids is not None
    for i, invoice_id in enumerate(cmd.invoice_ids):
        found = receivables.get(invoice_id)
        if found is None or found.client_id != cmd.client_id:
            raise InvoiceNotFound(
                f"no issued invoice {invoice_id} of client {cmd.client_id}",
                errors=[{"pointer": f"#/invoice_ids/{i}", "detail": "not this client's invoice"}],
            )
        if found.currency != cmd.currency:
            raise FieldInvalid(f"invoice_ids/{i}", f"invoice {invoice_id} is in {found.currency}")


async def _pay_from_credit(
    conn: Connection, runtime: Runtime, cmd: ApplyCredit, receivable: Receivable, amount: int
) -> Payment:
    now = runtime.clock()
    payment = Payment(
        tenant_id=cmd.tenant_id,
        id=runtime.new_id(),
        invoice_id=receivable.invoice_id,
        client_id=cmd.client_id,
        currency=cmd.currency,
        amount_minor=amount,
        applied_minor=amount,
        to_credit_minor=0,
        refunded_minor=0,
        method=CREDIT_METHOD,
        excess="reject",
        received_at=now,
        reference=None,
        notes=None,
        status="succeeded",
        version=1,
        created_at=now,
        updated_at=now,
        succeeded_at=now,
        failed_at=None,
        credit_application_id=cmd.application_id,
    )
    stored = await store_succeeded(conn, runtime, payment, now)
    assert stored, "the payment's id is new: nothing can be stored under it yet"
    await rows.add_credit(
        conn, cmd.tenant_id, runtime.new_id(), payment, -amount, now, "applied", cmd.application_id
    )
    return payment


async def application(conn: Connection, application_id: UUID) -> Application:
    found = await credit_rows.application(conn, application_id)
    if found is None:
        raise CreditApplicationNotFound(f"no credit application {application_id}")
    made = await credit_rows.payments_of(conn, application_id)
    balance = await credit_rows.balance(conn, found["client_id"], found["currency"])
    return Application(**found, payments=made, balance_minor=balance)


@dataclass(frozen=True, slots=True)
class PayOutCredit:
    tenant_id: UUID
    refund_id: UUID  # chosen before the transaction
    client_id: UUID
    currency: str
    amount_minor: int
    reason: str | None


async def pay_out(conn: Connection, runtime: Runtime, cmd: PayOutCredit) -> dict[str, Any]:
    """Give credit back to the client (money out of the balance, not off an invoice), and
    publish `credit.paid_out` with it; a retry that finds the payout stored publishes nothing."""
    if not await rows.client_known(conn, cmd.client_id):
        raise ClientNotFound(f"no client {cmd.client_id}")
    balance = await credit_rows.lock_balance(conn, cmd.client_id, cmd.currency)
    # Looked up under the lock: a retry racing its first attempt's COMMIT waits there and
    # then finds the payout, instead of enqueueing its event a second time.
    stored = await credit_rows.movement(conn, cmd.refund_id)
    if stored is not None:
        return {**stored, "balance_minor": balance}
    if cmd.amount_minor > balance:
        raise CreditRefundRefused(
            f"the credit balance in {cmd.currency} is {max(balance, 0)}",
            errors=[{"pointer": "#/amount_minor", "detail": f"at most {max(balance, 0)}"}],
        )
    now = runtime.clock()
    await credit_rows.insert_payout(
        conn,
        cmd.tenant_id,
        cmd.refund_id,
        cmd.client_id,
        cmd.currency,
        cmd.amount_minor,
        cmd.reason,
        now,
    )
    event = outgoing.credit_paid_out(
        tenant_id=cmd.tenant_id,
        payout_id=cmd.refund_id,
        client_id=cmd.client_id,
        amount_minor=cmd.amount_minor,
        currency=cmd.currency,
        reason=cmd.reason,
        at=now,
        event_id=runtime.new_id(),
    )
    await enqueue(conn, event)
    found = await credit_rows.movement(conn, cmd.refund_id)
    assert found is not None
    return {**found, "balance_minor": balance - cmd.amount_minor}
