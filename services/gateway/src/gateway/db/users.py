"""Users and refresh tokens in the gateway's schema."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from gateway.db.api_keys import LOOKUP_ON
from gateway.domain.users import User
from servicekit.db import Connection
from servicekit.pagination import Row

_COLUMNS = "tenant_id, id, email, name, role, created_at, disabled_at, version"
LIST_SELECT = f"SELECT {_COLUMNS} FROM users"


def to_user(row: Row) -> User:
    return User(
        tenant_id=row["tenant_id"],
        id=row["id"],
        email=row["email"],
        name=row["name"],
        role=row["role"],
        created_at=row["created_at"],
        disabled_at=row["disabled_at"],
        version=row["version"],
    )


async def insert(conn: Connection, user: User, password_hash: str) -> bool:
    """False when the email is taken in the tenant."""
    status = await conn.execute(
        "INSERT INTO users (tenant_id, id, email, name, password_hash, role, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, email) DO NOTHING",
        user.tenant_id,
        user.id,
        user.email,
        user.name,
        password_hash,
        user.role,
        user.created_at,
    )
    return status.endswith(" 1")


async def by_email(conn: Connection, email: str) -> tuple[User, str] | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS}, password_hash FROM users WHERE email = $1", email
    )
    return None if row is None else (to_user(row), row["password_hash"])


async def get(conn: Connection, user_id: UUID, *, lock: bool = False) -> User | None:
    sql = f"SELECT {_COLUMNS} FROM users WHERE id = $1" + (" FOR UPDATE" if lock else "")
    row = await conn.fetchrow(sql, user_id)
    return None if row is None else to_user(row)


async def update(conn: Connection, user: User, password_hash: str | None = None) -> None:
    await conn.execute(
        "UPDATE users SET name = $2, role = $3, disabled_at = $4, version = $5, "
        "password_hash = coalesce($6, password_hash) WHERE id = $1",
        user.id,
        user.name,
        user.role,
        user.disabled_at,
        user.version,
        password_hash,
    )


async def revoke_refresh_of_user(conn: Connection, user_id: UUID, now: datetime) -> None:
    await conn.execute(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        user_id,
        now,
    )


async def store_refresh(
    conn: Connection, user: User, token_hash: bytes, expires_at: datetime, family_id: UUID
) -> None:
    await conn.execute(
        "INSERT INTO refresh_tokens (tenant_id, token_hash, user_id, expires_at, family_id)"
        " VALUES ($1, $2, $3, $4, $5)",
        user.tenant_id,
        token_hash,
        user.id,
        expires_at,
        family_id,
    )


async def refresh_tenant(conn: Connection, token_hash: bytes) -> UUID | None:
    """Whose refresh token this is, found before the tenant is known."""
    await conn.execute(LOOKUP_ON)
    tenant: UUID | None = await conn.fetchval(
        "SELECT tenant_id FROM refresh_tokens WHERE token_hash = $1", token_hash
    )
    return tenant


async def use_refresh(
    conn: Connection, token_hash: bytes, now: datetime
) -> tuple[UUID, UUID] | None:
    """Mark a live refresh token used: (user, family), or None if it is not live.

    A token used before and presented again was copied: its whole family (every token
    refreshed from the same login) is revoked, the thief's and the owner's alike. Locks the
    user first (shared), as a user change does (exclusive), so a refresh in flight and a
    password reset or disabling never miss each other; and a token whose family has any
    revoked token is refused, so a refresh racing a replay cannot keep the family alive."""
    owner = await conn.fetchval(
        "SELECT user_id FROM refresh_tokens WHERE token_hash = $1", token_hash
    )
    if owner is None:
        return None
    await conn.execute("SELECT 1 FROM users WHERE id = $1 FOR SHARE", owner)
    row = await conn.fetchrow(
        "SELECT t.user_id, t.family_id, t.used_at, t.revoked_at, t.expires_at, "
        # The tenant named: with `key_lookup` beside tenant isolation, RLS alone gives an OR
        # that the (tenant_id, family_id) index cannot serve (decision 34).
        "EXISTS (SELECT 1 FROM refresh_tokens f WHERE f.tenant_id = t.tenant_id "
        "AND f.family_id = t.family_id AND f.revoked_at IS NOT NULL) AS family_revoked "
        "FROM refresh_tokens t WHERE t.token_hash = $1 FOR UPDATE OF t",
        token_hash,
    )
    if row is None or row["revoked_at"] is not None or row["expires_at"] <= now:
        return None
    if row["used_at"] is not None or row["family_revoked"]:
        await conn.execute(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
            row["family_id"],
            now,
        )
        return None
    await conn.execute(
        "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1", token_hash, now
    )
    return row["user_id"], row["family_id"]
