"""Ledger rows; the version guard makes replays and out-of-order deliveries harmless."""

from __future__ import annotations

from invoicing.domain.ledger import RecordTimeEntry
from servicekit.db import Connection

UPSERT = """
INSERT INTO ledger_entries AS l (
    tenant_id, entry_id, version, member_id, project_id, task, description, started_at,
    ended_at, duration_seconds, billable, tags, deleted, source_event_id
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (tenant_id, entry_id) DO UPDATE SET
    version = EXCLUDED.version, member_id = EXCLUDED.member_id,
    project_id = EXCLUDED.project_id, task = EXCLUDED.task,
    description = EXCLUDED.description, started_at = EXCLUDED.started_at,
    ended_at = EXCLUDED.ended_at, duration_seconds = EXCLUDED.duration_seconds,
    billable = EXCLUDED.billable, tags = EXCLUDED.tags, deleted = EXCLUDED.deleted,
    source_event_id = EXCLUDED.source_event_id, updated_at = clock_timestamp()
WHERE l.version < EXCLUDED.version
"""


async def record(conn: Connection, cmd: RecordTimeEntry) -> None:
    s = cmd.state
    await conn.execute(
        UPSERT,
        cmd.tenant_id,
        s.entry_id,
        s.version,
        s.member_id,
        s.project_id,
        s.task,
        s.description,
        s.started_at,
        s.ended_at,
        s.duration_seconds,
        s.billable,
        s.tags,
        cmd.action == "delete",
        cmd.source_event_id,
    )
