"""Users: admins create them; people log in with a password for a 15-minute access token and
a single-use refresh token."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from gateway.db import users as rows
from gateway.domain.users import (
    ACCESS_TTL,
    REFRESH_TTL,
    AccessTokens,
    User,
    hash_password,
    new_refresh_token,
    password_matches,
    refresh_hash,
)
from gateway.settings import GatewaySettings
from servicekit.db import Connection, tenant_transaction
from servicekit.identity import Identity, Role
from servicekit.pagination import Page, Query, SortColumn, fetch_page
from servicekit.problems import ConflictError, NotFoundError, UnauthorizedError
from servicekit.service import Runtime
from servicekit.versioning import check_version

USER_SORTS = {
    "created_at": SortColumn("created_at", "timestamptz"),
    "email": SortColumn("email", "text"),
}


class EmailTaken(ConflictError):
    slug = "email-taken"
    title = "Email already in use"


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int


def access_tokens(runtime: Runtime) -> AccessTokens:
    tokens = runtime.state.get("access_tokens")
    if not isinstance(tokens, AccessTokens):
        settings = runtime.settings
        assert isinstance(settings, GatewaySettings)
        tokens = AccessTokens(settings.identity_private_key.get_secret_value(), runtime.clock)
        runtime.state["access_tokens"] = tokens
    return tokens


async def create_user(
    runtime: Runtime, identity: Identity, *, email: str, name: str, password: str, role: Role
) -> User:
    user = User(identity.tenant_id, runtime.new_id(), email, name, role, runtime.clock(), None)
    # ~100 ms of CPU by design: off the event loop, which serves every other request.
    password_hash = await asyncio.to_thread(hash_password, password)
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        if not await rows.insert(conn, user, password_hash):
            raise EmailTaken(
                f"a user of this tenant already has the email {email}",
                errors=[{"pointer": "#/email", "detail": "already in use"}],
            )
    return user


async def list_users(
    runtime: Runtime, identity: Identity, *, sort: str | None, cursor: str | None, limit: int
) -> Page[User]:
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        return await fetch_page(
            conn,
            Query(rows.LIST_SELECT),
            rows.to_user,
            sort=sort,
            allowed=USER_SORTS,
            default_sort="created_at",
            cursor=cursor,
            limit=limit,
        )


async def log_in(runtime: Runtime, tenant_id: UUID, email: str, password: str) -> Tokens:
    refused = UnauthorizedError("unknown email or wrong password")
    pool = runtime.require_pool()
    async with tenant_transaction(pool, tenant_id) as conn:
        found = await rows.by_email(conn, email)
    user, password_hash = found if found is not None else (None, None)
    # Verified even without a user, so an unknown email answers as slowly as a known one; in
    # a thread and outside the transaction, so it holds neither the loop nor a connection.
    if not await asyncio.to_thread(password_matches, password, password_hash) or user is None:
        raise refused
    if user.disabled_at is not None:
        raise refused
    async with tenant_transaction(pool, tenant_id) as conn:
        return await _issue(runtime, conn, user)


async def refresh(runtime: Runtime, token: str) -> Tokens:
    refused = UnauthorizedError("unknown, used or expired refresh token")
    token_hash = refresh_hash(token)
    pool = runtime.require_pool()
    async with pool.acquire() as lookup, lookup.transaction():
        tenant_id = await rows.refresh_tenant(lookup, token_hash)
    if tenant_id is None:
        raise refused
    async with tenant_transaction(pool, tenant_id) as conn:
        used = await rows.use_refresh(conn, token_hash, runtime.clock())
        user = await rows.get(conn, used[0]) if used is not None else None
        if used is None or user is None or user.disabled_at is not None:
            refusal = refused
        else:
            return await _issue(runtime, conn, user, family_id=used[1])
    # Outside the transaction: a replayed token's family revocation is committed first.
    raise refusal


async def _issue(
    runtime: Runtime, conn: Connection, user: User, *, family_id: UUID | None = None
) -> Tokens:
    now = runtime.clock()
    clear, token_hash = new_refresh_token()
    family = family_id or runtime.new_id()
    await rows.store_refresh(conn, user, token_hash, now + REFRESH_TTL, family)
    access = access_tokens(runtime).sign(user)
    return Tokens(access, clear, int(ACCESS_TTL.total_seconds()))


class UserNotFound(NotFoundError):
    slug = "user-not-found"
    title = "User not found"


async def get_user(runtime: Runtime, identity: Identity, user_id: UUID) -> User:
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        user = await rows.get(conn, user_id)
    if user is None:
        raise UserNotFound(f"no user {user_id}")
    return user


async def revise_user(
    runtime: Runtime,
    identity: Identity,
    user_id: UUID,
    changes: Mapping[str, Any],
    *,
    password: str | None,
    if_match: str | None,
) -> User:
    """Name, role, disabled, password. Disabling or a new password ends every refresh token
    of the user; a disabled user's access tokens, and a new role, take effect within 5 s
    (the user's state is re-read at most that often per replica, and at once on this one)."""
    now = runtime.clock()
    password_hash = await asyncio.to_thread(hash_password, password) if password else None
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        user = await rows.get(conn, user_id, lock=True)
        if user is None:
            raise UserNotFound(f"no user {user_id}")
        check_version(if_match, user.version)
        fields = dict(changes)
        if "disabled" in fields:
            disabled = fields.pop("disabled")
            fields["disabled_at"] = (user.disabled_at or now) if disabled else None
        new = dataclasses.replace(user, **fields)
        if new == user and password_hash is None:
            return user
        new = dataclasses.replace(new, version=user.version + 1)
        await rows.update(conn, new, password_hash)
        if password_hash is not None or (new.disabled_at and not user.disabled_at):
            await rows.revoke_refresh_of_user(conn, user_id, now)
    # This replica at once; the others within USER_STATE_TTL_S.
    forget_user(runtime, user_id)
    return new


_USER_STATE = "user_state"
# How long a replica trusts what it last read of a user (role, disabled) for access tokens.
USER_STATE_TTL_S = 5.0
_USER_STATE_MAX = 10_000


async def current_identity(runtime: Runtime, identity: Identity) -> Identity:
    """A verified access token's identity with the user's role as it is now; 401 for a
    disabled or deleted user. Read at most every `USER_STATE_TTL_S` per user and replica, so
    disabling or a role change applies within seconds, not at the token's expiry."""
    try:
        user_id = UUID(identity.principal.removeprefix("user:"))
    except ValueError:
        raise UnauthorizedError("not a user's access token") from None
    cache: dict[UUID, tuple[float, Role | None]] = runtime.state.setdefault(_USER_STATE, {})
    now = time.monotonic()
    hit = cache.get(user_id)
    if hit is not None and now - hit[0] < USER_STATE_TTL_S:
        role = hit[1]
    else:
        async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
            user = await rows.get(conn, user_id)
        role = user.role if user is not None and user.disabled_at is None else None
        if len(cache) >= _USER_STATE_MAX:
            cache.clear()
        cache[user_id] = (now, role)
    if role is None:
        raise UnauthorizedError("the user is disabled", headers={"WWW-Authenticate": "Bearer"})
    return Identity(identity.tenant_id, identity.principal, role)


def forget_user(runtime: Runtime, user_id: UUID) -> None:
    cache: dict[UUID, object] = runtime.state.get(_USER_STATE, {})
    cache.pop(user_id, None)
