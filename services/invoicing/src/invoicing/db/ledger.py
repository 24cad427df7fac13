"""Ledger rows; the version guard makes replays and out-of-order deliveries harmless."""

from __future__ import annotations

import json
from collections.abc import Sequence

from invoicing.domain.ledger import RecordTimeEntry
from servicekit.db import Connection

_COLUMNS = """
    tenant_id, entry_id, version, member_id, project_id, task, description, started_at,
    ended_at, duration_seconds, billable, tags, deleted, source_event_id
"""
_ON_CONFLICT = """
ON CONFLICT (tenant_id, entry_id) DO UPDATE SET
    version = EXCLUDED.version, member_id = EXCLUDED.member_id,
    project_id = EXCLUDED.project_id, task = EXCLUDED.task,
    description = EXCLUDED.description, started_at = EXCLUDED.started_at,
    ended_at = EXCLUDED.ended_at, duration_seconds = EXCLUDED.duration_seconds,
    billable = EXCLUDED.billable, tags = EXCLUDED.tags, deleted = EXCLUDED.deleted,
    source_event_id = EXCLUDED.source_event_id, updated_at = clock_timestamp()
WHERE l.version < EXCLUDED.version
"""

UPSERT = f"""
INSERT INTO ledger_entries AS l ({_COLUMNS})
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
{_ON_CONFLICT}
"""

# Many rows in one statement, one array per column. Tags travel as JSON text per row
# (arrays of arrays must be rectangular in Postgres). One row per entry at most: an upsert
# cannot touch a row twice in one statement.
UPSERT_MANY = f"""
INSERT INTO ledger_entries AS l ({_COLUMNS})
SELECT r.tenant_id, r.entry_id, r.version, r.member_id, r.project_id, r.task, r.description,
    r.started_at, r.ended_at, r.duration_seconds, r.billable,
    ARRAY(
        SELECT t.tag FROM jsonb_array_elements_text(r.tags::jsonb) WITH ORDINALITY AS t(tag, n)
        ORDER BY t.n
    ),
    r.deleted, r.source_event_id
FROM unnest(
    $1::uuid[], $2::uuid[], $3::integer[], $4::uuid[], $5::uuid[], $6::text[], $7::text[],
    $8::timestamptz[], $9::timestamptz[], $10::integer[], $11::boolean[], $12::text[],
    $13::boolean[], $14::uuid[]
) AS r({_COLUMNS})
{_ON_CONFLICT}
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


async def record_many(conn: Connection, cmds: Sequence[RecordTimeEntry]) -> None:
    """Upsert many entries, each at most once, with one statement."""
    if not cmds:
        return
    states = [c.state for c in cmds]
    await conn.execute(
        UPSERT_MANY,
        [c.tenant_id for c in cmds],
        [s.entry_id for s in states],
        [s.version for s in states],
        [s.member_id for s in states],
        [s.project_id for s in states],
        [s.task for s in states],
        [s.description for s in states],
        [s.started_at for s in states],
        [s.ended_at for s in states],
        [s.duration_seconds for s in states],
        [s.billable for s in states],
        [json.dumps(s.tags) for s in states],
        [c.action == "delete" for c in cmds],
        [c.source_event_id for c in cmds],
    )
