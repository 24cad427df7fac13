"""Timer rows."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from servicekit import rows
from servicekit.db import Connection
from timecapture.domain.timers import Timer

TABLE = "timers"


async def insert(conn: Connection, timer: Timer) -> bool:
    return await rows.insert(conn, TABLE, timer)


async def get(conn: Connection, timer_id: UUID, *, lock: bool = False) -> Timer | None:
    return await rows.fetch(conn, TABLE, Timer, timer_id, lock=lock)


async def running_of(conn: Connection, member_id: UUID) -> UUID | None:
    found: UUID | None = await conn.fetchval(
        "SELECT id FROM timers WHERE member_id = $1 AND stopped_at IS NULL", member_id
    )
    return found


async def mark_stopped(
    conn: Connection, timer_id: UUID, stopped_at: datetime, entry_id: UUID
) -> None:
    await conn.execute(
        "UPDATE timers SET stopped_at = $2, time_entry_id = $3 WHERE id = $1",
        timer_id,
        stopped_at,
        entry_id,
    )


async def delete(conn: Connection, timer_id: UUID) -> None:
    await conn.execute("DELETE FROM timers WHERE id = $1", timer_id)
