"""Member rows."""

from __future__ import annotations

from uuid import UUID

from servicekit import rows
from servicekit.db import Connection
from timecapture.domain.members import Member

TABLE = "members"

# Emails are unique whatever their case (imports find members by email case-insensitively).
# The unique constraint is case-sensitive, so writers of one address queue on a lock first.
_LOCK_EMAIL = (
    "SELECT pg_advisory_xact_lock(hashtextextended('members.email.' || current_tenant()::text"
    " || lower($1), 0))"
)
_EMAIL_TAKEN = "SELECT EXISTS (SELECT 1 FROM members WHERE lower(email) = lower($1) AND id <> $2)"


async def insert(conn: Connection, member: Member) -> bool:
    return await rows.insert(conn, TABLE, member)


async def update(conn: Connection, member: Member) -> None:
    await rows.update(conn, TABLE, member)


async def get(conn: Connection, member_id: UUID, *, lock: bool = False) -> Member | None:
    return await rows.fetch(conn, TABLE, Member, member_id, lock=lock)


async def email_taken(conn: Connection, email: str, member_id: UUID) -> bool:
    """Whether another member has `email` in any case; holds the address until commit."""
    await conn.execute(_LOCK_EMAIL, email)
    return bool(await conn.fetchval(_EMAIL_TAKEN, email, member_id))


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
