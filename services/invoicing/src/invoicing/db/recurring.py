from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any
from uuid import UUID

from invoicing.domain.periods import Period
from invoicing.domain.recurring import RecurringInvoice
from servicekit import rows
from servicekit.db import Connection, Pool

SCHEDULES = "recurring_invoices"
_COLS = rows.columns(RecurringInvoice)


def schedule_of(row: Any) -> RecurringInvoice:
    values = {c: row[c] for c in _COLS}
    if isinstance(values["lines"], str):
        values["lines"] = json.loads(values["lines"])
    return RecurringInvoice(**values)


def _values(s: RecurringInvoice) -> list[Any]:
    return [json.dumps(s.lines) if c == "lines" else getattr(s, c) for c in _COLS]


async def insert(conn: Connection, s: RecurringInvoice) -> None:
    await conn.execute(rows.insert_sql(SCHEDULES, RecurringInvoice), *_values(s))


async def update(conn: Connection, s: RecurringInvoice) -> None:
    values = dict(zip(_COLS, _values(s), strict=True))
    cols = [c for c in _COLS if c not in ("tenant_id", "id", "created_at")]
    await conn.execute(
        rows.update_sql(SCHEDULES, RecurringInvoice), s.tenant_id, s.id, *[values[c] for c in cols]
    )


async def get(
    conn: Connection, schedule_id: UUID, *, lock: bool = False
) -> RecurringInvoice | None:
    row = await conn.fetchrow(rows.select_sql(SCHEDULES, RecurringInvoice, lock=lock), schedule_id)
    return None if row is None else schedule_of(row)


async def handled_periods(conn: Connection, schedule_id: UUID) -> set[date]:
    found = await conn.fetch(
        "SELECT period_start FROM recurring_occurrences WHERE schedule_id = $1", schedule_id
    )
    return {r["period_start"] for r in found}


async def record_occurrence(  # noqa: PLR0917
    conn: Connection,
    schedule: RecurringInvoice,
    period: Period,
    invoice_id: UUID | None,
    outcome: str,
    detail: str | None,
    now: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO recurring_occurrences (tenant_id, schedule_id, period_start, period_end, "
        "invoice_id, outcome, detail, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        schedule.tenant_id,
        schedule.id,
        period.start,
        period.end,
        invoice_id,
        outcome,
        detail,
        now,
    )


async def occurrences_of(conn: Connection, schedule_id: UUID, limit: int) -> list[dict[str, Any]]:
    found = await conn.fetch(
        "SELECT period_start, period_end, invoice_id, outcome, detail, created_at "
        "FROM recurring_occurrences WHERE schedule_id = $1 ORDER BY period_start DESC LIMIT $2",
        schedule_id,
        limit,
    )
    return [dict(r) for r in found]


async def due_schedules(pool: Pool, horizon: date) -> list[tuple[UUID, UUID]]:
    """(tenant, schedule) of active schedules with a period due before `horizon`."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT set_config('billstream.job_scan', 'on', true)")
        found = await conn.fetch(
            "SELECT tenant_id, id FROM recurring_invoices WHERE status = 'active' "
            "AND next_due_on < $1 ORDER BY next_due_on",
            horizon,
        )
    return [(r["tenant_id"], r["id"]) for r in found]
