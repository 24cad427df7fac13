"""Users and refresh tokens in the gateway's schema."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from gateway.db.api_keys import LOOKUP_ON
from gateway.domain.users import User
from servicekit.db import Connection
from servicekit.pagination import Row

_COLUMNS = "tenant_id, id, email, name, role, created_at, disabled_at"
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


async def get(conn: Connection, user_id: UUID) -> User | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE id = $1", user_id)
    return None if row is None else to_user(row)


async def store_refresh(
    conn: Connection, user: User, token_hash: bytes, expires_at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO refresh_tokens (tenant_id, token_hash, user_id, expires_at)"
        " VALUES ($1, $2, $3, $4)",
        user.tenant_id,
        token_hash,
        user.id,
        expires_at,
    )


async def refresh_tenant(conn: Connection, token_hash: bytes) -> UUID | None:
    """Whose refresh token this is, found before the tenant is known."""
    await conn.execute(LOOKUP_ON)
    tenant: UUID | None = await conn.fetchval(
        "SELECT tenant_id FROM refresh_tokens WHERE token_hash = $1", token_hash
    )
    return tenant


async def use_refresh(conn: Connection, token_hash: bytes, now: datetime) -> UUID | None:
    """Mark a live refresh token used; its user, or None if used, expired or unknown."""
    user_id: UUID | None = await conn.fetchval(
        "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1"
        " AND used_at IS NULL AND expires_at > $2 RETURNING user_id",
        token_hash,
        now,
    )
    return user_id
