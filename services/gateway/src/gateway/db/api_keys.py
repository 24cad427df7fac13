"""Tenants and API keys in the gateway's schema."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from gateway.domain.api_keys import StoredKey
from servicekit.db import Connection
from servicekit.pagination import Row

_COLUMNS = "tenant_id, id, name, prefix, role, created_at, revoked_at, replaced_by"

# Outside any tenant: the policy admits the lookup while `billstream.key_lookup` is on, for
# this transaction only. Set by its own statement: in one statement with the SELECT, the
# policy could be checked before the setting is made.
LOOKUP_ON = "SELECT set_config('billstream.key_lookup', 'on', true)"
_BY_PREFIX = f"SELECT {_COLUMNS}, secret_hash FROM api_keys WHERE prefix = $1"


async def insert_tenant(
    conn: Connection, tenant_id: UUID, name: str, now: datetime, *, if_absent: bool = False
) -> None:
    await conn.execute(
        "INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)"
        + (" ON CONFLICT (id) DO NOTHING" if if_absent else ""),
        tenant_id,
        name,
        now,
    )


async def live_admins(conn: Connection) -> int:
    # Locked: two revocations of the tenant's last two admin keys must not both pass.
    count: int = await conn.fetchval(
        "SELECT count(*) FROM (SELECT FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL"
        " FOR UPDATE) AS live"
    )
    return count


async def insert_key(conn: Connection, key: StoredKey, secret_hash: bytes) -> None:
    await conn.execute(
        "INSERT INTO api_keys (tenant_id, id, name, prefix, secret_hash, role, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        key.tenant_id,
        key.id,
        key.name,
        key.prefix,
        secret_hash,
        key.role,
        key.created_at,
    )


async def by_prefix(conn: Connection, prefix: str) -> tuple[StoredKey, bytes] | None:
    await conn.execute(LOOKUP_ON)
    row = await conn.fetchrow(_BY_PREFIX, prefix)
    if row is None:
        return None
    return to_key(row), bytes(row["secret_hash"])


async def get(conn: Connection, key_id: UUID, *, lock: bool = False) -> StoredKey | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM api_keys WHERE id = $1" + (" FOR UPDATE" if lock else ""),
        key_id,
    )
    return None if row is None else to_key(row)


async def revoke(
    conn: Connection, key_id: UUID, now: datetime, replaced_by: UUID | None = None
) -> None:
    await conn.execute(
        "UPDATE api_keys SET revoked_at = $2, replaced_by = $3 WHERE id = $1",
        key_id,
        now,
        replaced_by,
    )


def to_key(row: Row) -> StoredKey:
    return StoredKey(
        tenant_id=row["tenant_id"],
        id=row["id"],
        name=row["name"],
        prefix=row["prefix"],
        role=row["role"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        replaced_by=row["replaced_by"],
    )


LIST_SELECT = f"SELECT {_COLUMNS} FROM api_keys"


async def tenant_exists(conn: Connection, tenant_id: UUID) -> bool:
    return bool(
        await conn.fetchval("SELECT EXISTS (SELECT 1 FROM tenants WHERE id = $1)", tenant_id)
    )
