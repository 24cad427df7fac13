"""A client's credit balance: its lock, its open invoices, its ledger, applications."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from payments.db.payments import RECEIVABLES
from payments.domain.payments import Payment, Receivable
from servicekit import rows
from servicekit.db import Connection

MOVEMENTS = "credit_movements"


async def balance(conn: Connection, client_id: UUID, currency: str) -> int:
    return int(
        await conn.fetchval(
            "SELECT coalesce(sum(amount_minor), 0) FROM credit_movements "
            "WHERE client_id = $1 AND currency = $2",
            client_id,
            currency,
        )
    )


async def lock_balance(conn: Connection, client_id: UUID, currency: str) -> int:
    """The balance, with its lock held to COMMIT: spending it is one at a time, and only
    spending needs the lock (an overpayment adding to it can never take it below zero)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended("
        "'credit:' || current_tenant()::text || ':' || $1::uuid::text || ':' || $2::text, 0))",
        client_id,
        currency,
    )
    return await balance(conn, client_id, currency)


async def lock_receivables(conn: Connection, invoice_ids: list[UUID]) -> dict[UUID, Receivable]:
    """The invoices, locked in id order (payments lock one at a time, so no deadlock), then
    read by a statement of their own (see `payments.db.payments.receivable`)."""
    await conn.execute(
        "SELECT 1 FROM (SELECT invoice_id FROM receivables WHERE invoice_id = ANY($1::uuid[]) "
        "ORDER BY invoice_id FOR UPDATE) AS locked",
        invoice_ids,
    )
    found = await conn.fetch(
        f"SELECT * FROM {RECEIVABLES} WHERE invoice_id = ANY($1::uuid[])", invoice_ids
    )
    return {r["invoice_id"]: rows.from_row(Receivable, r) for r in found}


# More at once is unusual; the rest stays in the balance for the next application.
OPEN_INVOICES_AT_MOST = 1000


async def open_invoices(conn: Connection, client_id: UUID, currency: str) -> list[UUID]:
    """The client's invoices in `currency` that still owe, oldest due first."""
    found = await conn.fetch(
        f"SELECT invoice_id FROM {RECEIVABLES} WHERE client_id = $1 AND currency = $2 "
        "AND NOT void AND total_minor - credited_minor - paid_minor > 0 "
        "ORDER BY due_date, issued_at, invoice_id LIMIT $3",
        client_id,
        currency,
        OPEN_INVOICES_AT_MOST,
    )
    return [r["invoice_id"] for r in found]


async def insert_application(  # noqa: PLR0917
    conn: Connection,
    tenant_id: UUID,
    application_id: UUID,
    client_id: UUID,
    currency: str,
    applied_minor: int,
    now: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO credit_applications (tenant_id, id, client_id, currency, applied_minor, "
        "created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        tenant_id,
        application_id,
        client_id,
        currency,
        applied_minor,
        now,
    )


async def application(conn: Connection, application_id: UUID) -> dict[str, Any] | None:
    found = await conn.fetchrow(
        "SELECT id, client_id, currency, applied_minor, created_at FROM credit_applications "
        "WHERE id = $1",
        application_id,
    )
    return None if found is None else dict(found)


async def insert_payout(  # noqa: PLR0917
    conn: Connection,
    tenant_id: UUID,
    refund_id: UUID,
    client_id: UUID,
    currency: str,
    amount_minor: int,
    reason: str | None,
    now: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO credit_movements (tenant_id, id, client_id, currency, amount_minor, kind, "
        "reason, reference_id, created_at) VALUES ($1, $2, $3, $4, $5, 'refunded', $6, $2, $7) "
        "ON CONFLICT (tenant_id, id) DO NOTHING",
        tenant_id,
        refund_id,
        client_id,
        currency,
        -amount_minor,
        reason,
        now,
    )


async def movement(conn: Connection, movement_id: UUID) -> dict[str, Any] | None:
    found = await conn.fetchrow(
        "SELECT id, client_id, currency, -amount_minor AS amount_minor, reason, created_at "
        "FROM credit_movements WHERE id = $1",
        movement_id,
    )
    return None if found is None else dict(found)


async def payments_of(conn: Connection, application_id: UUID) -> list[Payment]:
    found = await conn.fetch(
        f"SELECT {', '.join(rows.columns(Payment))} FROM payments "
        "WHERE credit_application_id = $1 ORDER BY created_at, id",
        application_id,
    )
    return [rows.from_row(Payment, r) for r in found]
