"""Time entry rows. Queries run inside a tenant transaction (row-level security)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from servicekit import rows
from servicekit.db import Connection
from servicekit.outbox import insert_outbox_sql
from timecapture.db.budgets import UsageChange
from timecapture.domain.budgets import Budget, Usage
from timecapture.domain.time_entries import (
    EntryContext,
    MemberFacts,
    ProjectFacts,
    TimeEntry,
)

TABLE = "time_entries"

# The member row is locked first: one member's writes queue here, so the overlap check and
# the insert that follows cannot race another write of the same member. The project row is
# key-share locked, so it cannot be deleted under a new entry.
_CONTEXT = """
WITH m AS MATERIALIZED (
    SELECT archived, cost_rate_minor, cost_currency FROM members WHERE id = $1 FOR UPDATE
), p AS MATERIALIZED (
    SELECT p.archived, p.client_id, c.archived AS client_archived, c.currency,
           p.billable_by_default, p.manager_ids
    FROM projects p JOIN clients c ON c.tenant_id = p.tenant_id AND c.id = p.client_id
    WHERE p.id = $2
    FOR KEY SHARE OF p
)
SELECT m.archived AS member_archived, m.cost_rate_minor, m.cost_currency,
       p.archived AS project_archived, p.client_id, p.client_archived, p.currency,
       p.billable_by_default, p.manager_ids,
       (SELECT id FROM members WHERE principal = $3) AS caller_member_id,
       m.archived IS NOT NULL AS member_found, p.archived IS NOT NULL AS project_found
FROM (VALUES (1)) AS one LEFT JOIN m ON true LEFT JOIN p ON true
"""

# Entries span at most 24 hours, so only those starting in the day before can reach into
# the period: the index range stays small however long the member's history.
_OVERLAP = """
SELECT id FROM time_entries
WHERE member_id = $1 AND deleted_at IS NULL AND id <> $2
  AND started_at < $4 AND started_at > $3::timestamptz - interval '24 hours' AND ended_at > $3
ORDER BY started_at LIMIT 1
"""

# The entry, its usage and its event in one round trip (a request pays for each). Nothing is
# written when the entry overlaps another of its member ($17 = reject overlaps) or is
# already stored (a retry after a lost COMMIT).
_TYPES = {
    "tenant_id": "uuid", "id": "uuid", "member_id": "uuid", "project_id": "uuid",
    "task": "text", "description": "text", "started_at": "timestamptz",
    "ended_at": "timestamptz", "billable": "boolean", "tags": "text[]", "version": "integer",
    "created_at": "timestamptz", "updated_at": "timestamptz", "deleted_at": "timestamptz",
    "invoice_id": "uuid", "cost_minor": "bigint",
}  # fmt: skip
_COLUMNS = rows.columns(TimeEntry)
assert tuple(_TYPES) == _COLUMNS, "keep _TYPES in the column order of TimeEntry"
_LOG = f"""
WITH ins AS (
    INSERT INTO time_entries ({", ".join(_COLUMNS)})
    SELECT {", ".join(f"${i}::{_TYPES[c]}" for i, c in enumerate(_COLUMNS, start=1))}
    WHERE NOT ($17::boolean AND EXISTS (
        SELECT 1 FROM time_entries WHERE member_id = $3 AND deleted_at IS NULL AND id <> $2
          AND started_at < $8 AND started_at > $7::timestamptz - interval '24 hours'
          AND ended_at > $7))
    ON CONFLICT (tenant_id, id) DO NOTHING
    RETURNING project_id
), used AS (
    UPDATE project_usage u
    SET tracked_seconds = u.tracked_seconds + $18, cost_minor = u.cost_minor + $19,
        unpriced_seconds = u.unpriced_seconds + $20
    FROM ins, projects p JOIN clients c ON c.tenant_id = p.tenant_id AND c.id = p.client_id
    WHERE u.project_id = ins.project_id AND p.tenant_id = u.tenant_id AND p.id = u.project_id
    RETURNING u.tracked_seconds, u.cost_minor, u.unpriced_seconds, p.budget_hours,
              p.budget_amount_minor, p.client_id, c.currency
), staged AS (
    {insert_outbox_sql(21, "ins")}
)
SELECT used.* FROM used
"""

_LOCK_FOR_INVOICE = """
WITH held AS (
    INSERT INTO invoice_entries (tenant_id, invoice_id, entry_id)
    SELECT current_tenant(), $1, unnest($2::uuid[])
    ON CONFLICT DO NOTHING
)
UPDATE time_entries SET invoice_id = $1 WHERE id = ANY($2::uuid[])
"""

# Entries still held by another issued invoice keep pointing at it.
_UNLOCK_FOR_INVOICE = """
WITH released AS (
    DELETE FROM invoice_entries WHERE invoice_id = $1 RETURNING entry_id
)
UPDATE time_entries e
SET invoice_id = (
    SELECT h.invoice_id FROM invoice_entries h WHERE h.entry_id = e.id AND h.invoice_id <> $1
    ORDER BY h.invoice_id LIMIT 1
)
WHERE e.id IN (SELECT entry_id FROM released)
"""


async def context(
    conn: Connection, member_id: UUID, project_id: UUID, principal: str
) -> EntryContext:
    row = await conn.fetchrow(_CONTEXT, member_id, project_id, principal)
    assert row is not None
    member = (
        MemberFacts(row["member_archived"], row["cost_rate_minor"], row["cost_currency"])
        if row["member_found"]
        else None
    )
    project = (
        ProjectFacts(
            archived=row["project_archived"],
            client_id=row["client_id"],
            client_archived=row["client_archived"],
            currency=row["currency"],
            billable_by_default=row["billable_by_default"],
            manager_ids=tuple(row["manager_ids"]),
        )
        if row["project_found"]
        else None
    )
    return EntryContext(member, project, row["caller_member_id"])


async def overlapping(
    conn: Connection, member_id: UUID, entry_id: UUID, started_at: datetime, ended_at: datetime
) -> UUID | None:
    found: UUID | None = await conn.fetchval(_OVERLAP, member_id, entry_id, started_at, ended_at)
    return found


async def log(
    conn: Connection,
    entry: TimeEntry,
    delta: Usage,
    event: tuple[Any, ...],
    *,
    reject_overlaps: bool,
) -> UsageChange | None:
    """Store a new entry with its usage and outbox row; None when nothing was written."""
    row = await conn.fetchrow(
        _LOG,
        *rows.values(entry),
        reject_overlaps,
        delta.tracked_seconds,
        delta.cost_minor,
        delta.unpriced_seconds,
        *event,
    )
    if row is None:
        return None
    after = Usage(row["tracked_seconds"], row["cost_minor"], row["unpriced_seconds"])
    budget = Budget.of(row["budget_hours"], row["budget_amount_minor"])
    return UsageChange(after + (-delta), after, budget, row["client_id"], row["currency"])


async def exists(conn: Connection, entry_id: UUID) -> bool:
    return bool(
        await conn.fetchval("SELECT EXISTS (SELECT 1 FROM time_entries WHERE id = $1)", entry_id)
    )


async def insert(conn: Connection, entry: TimeEntry) -> bool:
    return await rows.insert(conn, TABLE, entry)


async def update(conn: Connection, entry: TimeEntry) -> None:
    await rows.update(conn, TABLE, entry)


async def get(conn: Connection, entry_id: UUID, *, lock: bool = False) -> TimeEntry | None:
    entry = await rows.fetch(conn, TABLE, TimeEntry, entry_id, lock=lock)
    return None if entry is None or entry.deleted_at is not None else entry


async def lock_for_invoice(conn: Connection, invoice_id: UUID, entry_ids: list[UUID]) -> int:
    status = await conn.execute(_LOCK_FOR_INVOICE, invoice_id, entry_ids)
    return int(status.split()[-1])


async def lock_for_invoices(conn: Connection, entries: dict[UUID, list[UUID]]) -> None:
    """`lock_for_invoice` for several invoices, pipelined in one round trip."""
    if entries:
        await conn.executemany(_LOCK_FOR_INVOICE, list(entries.items()))


async def unlock_for_invoice(conn: Connection, invoice_id: UUID) -> int:
    status = await conn.execute(_UNLOCK_FOR_INVOICE, invoice_id)
    return int(status.split()[-1])
