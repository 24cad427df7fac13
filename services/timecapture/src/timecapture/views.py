"""Read-side SQL for GET endpoints."""

from __future__ import annotations

from uuid import UUID

from servicekit.db import Connection
from timecapture.domain.errors import TimeEntryNotFound
from timecapture.domain.time_entries import TimeEntry

_BY_ID = """
SELECT tenant_id, id, member_id, project_id, task, description, started_at, ended_at,
       billable, tags, version, created_at, updated_at
FROM time_entries WHERE id = $1
"""


async def time_entry(conn: Connection, entry_id: UUID) -> TimeEntry:
    row = await conn.fetchrow(_BY_ID, entry_id)
    if row is None:
        raise TimeEntryNotFound(f"no time entry {entry_id}")
    return TimeEntry(**{**dict(row), "tags": tuple(row["tags"])})
