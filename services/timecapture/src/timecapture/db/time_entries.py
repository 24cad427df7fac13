"""Time entry rows. Queries run inside a tenant transaction (row-level security)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from servicekit import rows
from servicekit.db import Connection
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


async def unlock_for_invoice(conn: Connection, invoice_id: UUID) -> int:
    status = await conn.execute(_UNLOCK_FOR_INVOICE, invoice_id)
    return int(status.split()[-1])
