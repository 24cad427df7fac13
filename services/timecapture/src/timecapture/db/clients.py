"""Client rows."""

from __future__ import annotations

from uuid import UUID

from servicekit import rows
from servicekit.db import Connection
from timecapture.domain.clients import Client

TABLE = "clients"

_HAS_ENTRIES = """
SELECT EXISTS (
    SELECT 1 FROM time_entries e
    JOIN projects p ON p.tenant_id = e.tenant_id AND p.id = e.project_id
    WHERE p.client_id = $1
) OR EXISTS (
    SELECT 1 FROM timers t
    JOIN projects p ON p.tenant_id = t.tenant_id AND p.id = t.project_id
    WHERE p.client_id = $1
)
"""


async def insert(conn: Connection, client: Client) -> bool:
    return await rows.insert(conn, TABLE, client)


async def update(conn: Connection, client: Client) -> None:
    await rows.update(conn, TABLE, client)


async def get(conn: Connection, client_id: UUID, *, lock: bool = False) -> Client | None:
    return await rows.fetch(conn, TABLE, Client, client_id, lock=lock)


async def referenced(conn: Connection, client_id: UUID) -> Client | None:
    """The client, key-share locked so it cannot be deleted before the referencing write
    commits (a concurrent delete makes this None)."""
    row = await conn.fetchrow(rows.select_sql(TABLE, Client) + " FOR KEY SHARE", client_id)
    return None if row is None else rows.from_row(Client, row)


async def has_time(conn: Connection, client_id: UUID) -> bool:
    return bool(await conn.fetchval(_HAS_ENTRIES, client_id))


async def delete(conn: Connection, client_id: UUID) -> None:
    await conn.execute("DELETE FROM clients WHERE id = $1", client_id)
