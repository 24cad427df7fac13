"""Time entry rows. Queries run inside a tenant transaction (row-level security)."""

from __future__ import annotations

from servicekit.db import Connection
from timecapture.domain.time_entries import TimeEntry

INSERT = """
INSERT INTO time_entries (
    tenant_id, id, member_id, project_id, task, description, started_at, ended_at,
    billable, tags, version, created_at, updated_at
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (tenant_id, id) DO NOTHING
RETURNING true
"""


async def insert(conn: Connection, e: TimeEntry) -> bool:
    """False when the entry is already stored (a retry after an unknown commit outcome)."""
    inserted = await conn.fetchval(
        INSERT,
        e.tenant_id,
        e.id,
        e.member_id,
        e.project_id,
        e.task,
        e.description,
        e.started_at,
        e.ended_at,
        e.billable,
        list(e.tags),
        e.version,
        e.created_at,
        e.updated_at,
    )
    return bool(inserted)
