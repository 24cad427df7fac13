"""Receivables, payments, refunds and credit movements."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from contracts.envelope import EventEnvelope
from payments.domain.credit import MovementKind, RefundDestination
from payments.domain.payments import Payment, Receivable, Refund
from servicekit import outbox, rows
from servicekit.db import Connection

PAYMENTS = "payments"
_RECEIVABLE_COLS = rows.columns(Receivable)


_STORED_COLS = [c for c in _RECEIVABLE_COLS if c not in ("credited_minor", "void")]


# A receivable with what credit notes took off it and whether it is void: both are kept
# apart (they may arrive before the invoice) and summed here, the one place they are.
RECEIVABLES = (
    f"(SELECT {', '.join(f'r.{c}' for c in _STORED_COLS)}, "
    "(SELECT coalesce(sum(c.amount_minor), 0)::bigint FROM receivable_credits c "
    "WHERE c.tenant_id = r.tenant_id AND c.invoice_id = r.invoice_id) AS credited_minor, "
    "r.void OR EXISTS (SELECT 1 FROM voided_invoices v WHERE v.tenant_id = r.tenant_id "
    "AND v.invoice_id = r.invoice_id) AS void "
    "FROM receivables r) AS receivable"
)


async def receivable(conn: Connection, invoice_id: UUID, *, lock: bool) -> Receivable | None:
    if lock:
        # Locked by a statement of its own: a statement that waited for the lock still reads
        # its subqueries (credit notes, voids) as of before the wait, so the figures are read
        # by the next statement, which sees whatever the lock's holder committed.
        await conn.execute("SELECT 1 FROM receivables WHERE invoice_id = $1 FOR UPDATE", invoice_id)
    row = await conn.fetchrow(f"SELECT * FROM {RECEIVABLES} WHERE invoice_id = $1", invoice_id)
    return None if row is None else rows.from_row(Receivable, row)


_RECORD_ISSUED = (
    f"INSERT INTO receivables ({', '.join(_STORED_COLS)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(_STORED_COLS) + 1))}) "
    "ON CONFLICT (tenant_id, invoice_id) DO NOTHING"
)


async def record_issued(conn: Connection, r: Receivable) -> None:
    await conn.execute(_RECORD_ISSUED, *[getattr(r, c) for c in _STORED_COLS])


async def record_issued_many(conn: Connection, receivables: Sequence[Receivable]) -> None:
    """Several issues pipelined in one round trip (a consumer batch)."""
    await conn.executemany(
        _RECORD_ISSUED, [[getattr(r, c) for c in _STORED_COLS] for r in receivables]
    )


async def record_voided(conn: Connection, tenant_id: UUID, invoice_id: UUID) -> bool:
    """False when the void was recorded before (a redelivery)."""
    done = await conn.fetchval(
        "INSERT INTO voided_invoices (tenant_id, invoice_id) VALUES ($1, $2) "
        "ON CONFLICT DO NOTHING RETURNING true",
        tenant_id,
        invoice_id,
    )
    return bool(done)


async def add_paid(conn: Connection, invoice_id: UUID, delta_minor: int) -> None:
    await conn.execute(
        "UPDATE receivables SET paid_minor = paid_minor + $2 WHERE invoice_id = $1",
        invoice_id,
        delta_minor,
    )


async def insert_succeeded(
    conn: Connection, payment: Payment, event: EventEnvelope[Any] | None
) -> bool:
    """A succeeded payment stored, its applied part added to its receivable and `event`
    staged, in one statement (they were three round trips, all under the receivable's lock).
    False, and nothing written, when the payment is stored already."""
    outbox.require_transaction(conn)
    args = rows.values(payment)
    ctes = [f"stored AS ({rows.insert_sql(PAYMENTS, Payment)})"]
    if payment.applied_minor:
        ctes.append(
            f"paid AS (UPDATE receivables SET paid_minor = paid_minor + ${len(args) + 1} "
            f"WHERE invoice_id = ${len(args) + 2} AND EXISTS (SELECT FROM stored))"
        )
        args += [payment.applied_minor, payment.invoice_id]
    if event is not None:
        ctes.append(f"staged AS ({outbox.insert_outbox_sql(len(args) + 1, 'stored')})")
        args += outbox.outbox_row(event)
    sql = f"WITH {', '.join(ctes)} SELECT EXISTS (SELECT FROM stored)"
    return bool(await conn.fetchval(sql, *args))


async def insert_payment(conn: Connection, payment: Payment) -> bool:
    """False when the payment is stored already (a retry after an unknown COMMIT)."""
    return await rows.insert(conn, PAYMENTS, payment)


async def update_payment(conn: Connection, payment: Payment) -> None:
    await rows.update(conn, PAYMENTS, payment)


async def payment(conn: Connection, payment_id: UUID, *, lock: bool = False) -> Payment | None:
    return await rows.fetch(conn, PAYMENTS, Payment, payment_id, lock=lock)


async def insert_refund(  # noqa: PLR0917
    conn: Connection,
    tenant_id: UUID,
    refund_id: UUID,
    payment: Payment,
    amount_minor: int,
    reason: str | None,
    now: datetime,
    destination: RefundDestination = "client",
) -> bool:
    """False when a refund of this id is stored already."""
    return bool(
        await conn.fetchval(
            "INSERT INTO refunds (tenant_id, id, payment_id, invoice_id, amount_minor, reason, "
            "created_at, destination) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
            "ON CONFLICT DO NOTHING RETURNING true",
            tenant_id,
            refund_id,
            payment.id,
            payment.invoice_id,
            amount_minor,
            reason,
            now,
            destination,
        )
    )


# A refund with what its provider reported of it, if a provider holds its money.
REFUNDS = (
    "(SELECT r.tenant_id, r.id, r.payment_id, r.invoice_id, r.amount_minor, r.reason, "
    "r.destination, r.created_at, p.provider, p.refund_ref AS provider_refund_id, "
    "p.state AS provider_state FROM refunds r LEFT JOIN provider_refunds p "
    "ON p.tenant_id = r.tenant_id AND p.refund_id = r.id) AS refund"
)


async def refund(conn: Connection, payment_id: UUID, refund_id: UUID) -> Refund | None:
    found = await conn.fetchrow(
        f"SELECT {', '.join(rows.columns(Refund))} FROM {REFUNDS} "
        "WHERE payment_id = $1 AND id = $2",
        payment_id,
        refund_id,
    )
    return None if found is None else rows.from_row(Refund, found)


async def refunded_payment_id(conn: Connection, refund_id: UUID) -> UUID | None:
    found: UUID | None = await conn.fetchval(
        "SELECT payment_id FROM refunds WHERE id = $1", refund_id
    )
    return found


async def refund_and_payment_invoices(
    conn: Connection, refund_id: UUID, payment_id: UUID
) -> tuple[UUID | None, UUID | None]:
    """(the invoice the refund was taken from, the payment's invoice), None where unknown."""
    found = await conn.fetchrow(
        "SELECT (SELECT invoice_id FROM refunds WHERE id = $1) AS refunded, "
        "(SELECT invoice_id FROM payments WHERE id = $2) AS paid",
        refund_id,
        payment_id,
    )
    assert found is not None  # a SELECT without FROM returns its one row
    return found["refunded"], found["paid"]


async def refund_exists(conn: Connection, refund_id: UUID) -> bool:
    return bool(
        await conn.fetchval("SELECT EXISTS (SELECT 1 FROM refunds WHERE id = $1)", refund_id)
    )


async def add_credit_note(
    conn: Connection, tenant_id: UUID, credit_note_id: UUID, invoice_id: UUID, amount_minor: int
) -> bool:
    """False when this credit note was counted before (a redelivery)."""
    done = await conn.fetchval(
        "INSERT INTO receivable_credits (tenant_id, credit_note_id, invoice_id, amount_minor) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true",
        tenant_id,
        credit_note_id,
        invoice_id,
        amount_minor,
    )
    return bool(done)


async def refundable_payments(conn: Connection, invoice_id: UUID) -> list[Payment]:
    """The invoice's succeeded payments with money still on it, newest first, locked."""
    found = await conn.fetch(
        f"SELECT {', '.join(rows.columns(Payment))} FROM payments WHERE invoice_id = $1 "
        "AND status = 'succeeded' AND applied_minor > refunded_minor "
        "ORDER BY created_at DESC, id DESC FOR UPDATE",
        invoice_id,
    )
    return [rows.from_row(Payment, r) for r in found]


async def add_credit(  # noqa: PLR0917
    conn: Connection,
    tenant_id: UUID,
    movement_id: UUID,
    payment: Payment,
    amount_minor: int,
    now: datetime,
    kind: MovementKind = "overpayment",
    reference_id: UUID | None = None,
) -> None:
    """A movement of the client's balance caused by `payment` (negative when spent)."""
    await conn.execute(
        "INSERT INTO credit_movements (tenant_id, id, client_id, currency, amount_minor, kind, "
        "payment_id, invoice_id, created_at, reference_id) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        tenant_id,
        movement_id,
        payment.client_id,
        payment.currency,
        amount_minor,
        kind,
        payment.id,
        payment.invoice_id,
        now,
        reference_id,
    )


async def credit_balance(conn: Connection, client_id: UUID) -> list[dict[str, Any]]:
    found = await conn.fetch(
        "SELECT currency, sum(amount_minor)::bigint AS balance_minor, count(*) AS movements "
        "FROM credit_movements WHERE client_id = $1 GROUP BY currency ORDER BY currency",
        client_id,
    )
    return [dict(r) for r in found]


async def record_client(  # noqa: PLR0917
    conn: Connection,
    tenant_id: UUID,
    client_id: UUID,
    version: int,
    name: str,
    currency: str,
    deleted: bool,
) -> None:
    await conn.execute(
        "INSERT INTO clients AS c (tenant_id, client_id, version, name, currency, deleted) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, client_id) DO UPDATE SET "
        "version = EXCLUDED.version, name = EXCLUDED.name, currency = EXCLUDED.currency, "
        "deleted = EXCLUDED.deleted WHERE c.version < EXCLUDED.version",
        tenant_id,
        client_id,
        version,
        name,
        currency,
        deleted,
    )


async def client_known(conn: Connection, client_id: UUID) -> bool:
    """Ever heard of, deleted or not: a deleted client's credit is still theirs, to spend on
    the invoices they still owe or to be paid out."""
    return bool(
        await conn.fetchval("SELECT EXISTS (SELECT 1 FROM clients WHERE client_id = $1)", client_id)
    )
