"""Member rows."""

from __future__ import annotations

from uuid import UUID

from servicekit import rows
from servicekit.db import Connection
from timecapture.domain.members import Member

TABLE = "members"


async def insert(conn: Connection, member: Member) -> bool:
    return await rows.insert(conn, TABLE, member)


async def update(conn: Connection, member: Member) -> None:
    await rows.update(conn, TABLE, member)


async def get(conn: Connection, member_id: UUID, *, lock: bool = False) -> Member | None:
    return await rows.fetch(conn, TABLE, Member, member_id, lock=lock)


async def has_time(conn: Connection, member_id: UUID) -> bool:
    """Whether the member ever logged time or ran a timer (then they are archived, not deleted)."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM time_entries WHERE member_id = $1)"
            " OR EXISTS (SELECT 1 FROM timers WHERE member_id = $1)",
            member_id,
        )
    )


async def delete(conn: Connection, member_id: UUID) -> None:
    await conn.execute("DELETE FROM members WHERE id = $1", member_id)
