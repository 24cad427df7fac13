"""Tenants and API keys: operator bootstrap, create, list, rotate, revoke, and the lookup
that turns a caller's key into an identity."""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass, field
from uuid import UUID

from gateway.db import api_keys as rows
from gateway.domain.api_keys import StoredKey, matches, new_key, prefix_of
from gateway.domain.auth import dev_identity
from gateway.handlers.users import access_tokens, current_identity
from gateway.settings import GatewaySettings
from servicekit.db import Connection, tenant_transaction
from servicekit.identity import Identity, Role
from servicekit.pagination import Page, Query, SortColumn, fetch_page
from servicekit.problems import ConflictError, NotFoundError, UnauthorizedError
from servicekit.service import Runtime

# A revoked key keeps working on other gateway replicas for at most this long.
KEY_CACHE_TTL_S = 5.0
KEY_SORTS = {"created_at": SortColumn("created_at", "timestamptz")}
_BEARER = {"WWW-Authenticate": "Bearer"}
_CACHE_SIZE = 10_000


class ApiKeyNotFound(NotFoundError):
    slug = "api-key-not-found"
    title = "No such API key"


class ApiKeyRevoked(ConflictError):
    slug = "api-key-revoked"
    title = "API key already revoked"


class LastAdminKey(ConflictError):
    slug = "last-admin-key"
    title = "Last admin key"


@dataclass
class KeyCache:
    """Keys by prefix as last read, with when (monotonic seconds). A read that began before
    the key's last change on this replica is not cached: it may hold the state before it."""

    entries: dict[str, tuple[StoredKey, bytes, float]] = field(default_factory=dict)
    changed: dict[str, float] = field(default_factory=dict)
    # Prefixes no key has, as last read: a flood of made-up keys costs no database reads.
    missing: dict[str, float] = field(default_factory=dict)

    def is_missing(self, prefix: str) -> bool:
        at = self.missing.get(prefix)
        return at is not None and time.monotonic() - at <= KEY_CACHE_TTL_S

    def put_missing(self, prefix: str, *, read_at: float) -> None:
        if self.changed.get(prefix, float("-inf")) >= read_at:
            return
        if len(self.missing) >= _CACHE_SIZE:
            self.missing.clear()
        self.missing[prefix] = read_at

    def get(self, prefix: str) -> tuple[StoredKey, bytes] | None:
        found = self.entries.get(prefix)
        if found is None or time.monotonic() - found[2] > KEY_CACHE_TTL_S:
            return None
        return found[0], found[1]

    def put(self, key: StoredKey, secret_hash: bytes, *, read_at: float) -> None:
        if self.changed.get(key.prefix, float("-inf")) >= read_at:
            return
        if len(self.entries) >= _CACHE_SIZE:
            self.entries.clear()
        self.entries[key.prefix] = (key, secret_hash, read_at)

    def forget(self, prefix: str) -> None:
        self.entries.pop(prefix, None)
        self.missing.pop(prefix, None)
        now = time.monotonic()
        # Marks older than any read still in flight can go.
        self.changed = {p: t for p, t in self.changed.items() if now - t < KEY_CACHE_TTL_S}
        self.changed[prefix] = now


_ACQUIRE_TIMEOUT_S = 2.0


def _settings(runtime: Runtime) -> GatewaySettings:
    settings = runtime.settings
    assert isinstance(settings, GatewaySettings)
    return settings


def _cache(runtime: Runtime) -> KeyCache:
    cache = runtime.state.get("key_cache")
    if not isinstance(cache, KeyCache):
        cache = runtime.state["key_cache"] = KeyCache()
    return cache


async def authenticate(runtime: Runtime, key: str) -> Identity:
    """The identity an API key acts as, or 401 for an unknown, revoked or malformed key."""
    settings = _settings(runtime)
    dev_key = settings.dev_api_key.get_secret_value() if settings.dev_api_key else None
    if (dev := dev_identity(key, dev_key, settings.dev_tenant_id)) is not None:
        return dev
    unknown = UnauthorizedError("unknown or revoked API key", headers=_BEARER)
    if key.count(".") == 2:  # a JWT: a user's access token
        user = access_tokens(runtime).verify(key)
        if user is None:
            raise UnauthorizedError("invalid or expired access token", headers=_BEARER)
        return await current_identity(runtime, user)
    prefix = prefix_of(key)
    if prefix is None or runtime.pool is None:
        raise unknown
    cache = _cache(runtime)
    if cache.is_missing(prefix):
        raise unknown
    found = cache.get(prefix)
    if found is None:
        read_at = time.monotonic()
        # Bounded: a pool exhausted for this long answers 503, not a hung request.
        async with runtime.pool.acquire(timeout=_ACQUIRE_TIMEOUT_S) as conn, conn.transaction():
            found = await rows.by_prefix(conn, prefix)
        if found is None:
            cache.put_missing(prefix, read_at=read_at)
            raise unknown
        cache.put(*found, read_at=read_at)
    stored, secret_hash = found
    if stored.revoked_at is not None or not matches(key, secret_hash):
        raise unknown
    return Identity(tenant_id=stored.tenant_id, principal=f"api-key:{stored.id}", role=stored.role)


def check_operator(runtime: Runtime, key: str) -> None:
    operator = _settings(runtime).operator_key
    if operator is None:
        raise UnauthorizedError(
            "tenant bootstrap is disabled: no operator key is configured", headers=_BEARER
        )
    if not hmac.compare_digest(key.encode(), operator.get_secret_value().encode()):
        raise UnauthorizedError("not the operator key", headers=_BEARER)


async def create_tenant(runtime: Runtime, name: str, key_name: str) -> tuple[UUID, StoredKey, str]:
    """A tenant and its first admin key (returned once, in clear)."""
    tenant_id, now = runtime.new_id(), runtime.clock()
    made = new_key()
    stored = StoredKey(tenant_id, runtime.new_id(), key_name, made.prefix, "admin", now, None, None)
    async with tenant_transaction(runtime.require_pool(), tenant_id) as conn:
        await rows.insert_tenant(conn, tenant_id, name, now)
        await rows.insert_key(conn, stored, made.secret_hash)
    _cache(runtime).forget(stored.prefix)  # in case a made-up key had the same prefix
    return tenant_id, stored, made.key


async def create_key(
    runtime: Runtime, identity: Identity, name: str, role: Role
) -> tuple[StoredKey, str]:
    made = new_key()
    stored = StoredKey(
        identity.tenant_id, runtime.new_id(), name, made.prefix, role, runtime.clock(), None, None
    )
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        await rows.insert_key(conn, stored, made.secret_hash)
    _cache(runtime).forget(stored.prefix)  # in case a made-up key had the same prefix
    return stored, made.key


async def list_keys(
    runtime: Runtime, identity: Identity, *, sort: str | None, cursor: str | None, limit: int
) -> Page[StoredKey]:
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        return await fetch_page(
            conn,
            Query(rows.LIST_SELECT),
            rows.to_key,
            sort=sort,
            allowed=KEY_SORTS,
            default_sort="created_at",
            cursor=cursor,
            limit=limit,
        )


async def get_key(runtime: Runtime, identity: Identity, key_id: UUID) -> StoredKey:
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        stored = await rows.get(conn, key_id)
    if stored is None:
        raise ApiKeyNotFound(f"no API key {key_id}")
    return stored


async def rotate_key(runtime: Runtime, identity: Identity, key_id: UUID) -> tuple[StoredKey, str]:
    """A new key with the old one's name and role; the old one is revoked at once."""
    now = runtime.clock()
    made = new_key()
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        old = await _live(conn, key_id)
        stored = StoredKey(
            identity.tenant_id, runtime.new_id(), old.name, made.prefix, old.role, now, None, None
        )
        await rows.insert_key(conn, stored, made.secret_hash)
        await rows.revoke(conn, key_id, now, replaced_by=stored.id)
    _cache(runtime).forget(old.prefix)
    return stored, made.key


async def revoke_key(runtime: Runtime, identity: Identity, key_id: UUID) -> None:
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        old = await _live(conn, key_id)
        if old.role == "admin" and await rows.live_admins(conn) <= 1:
            raise LastAdminKey(
                "this is the tenant's last admin key: create another admin key first"
            )
        await rows.revoke(conn, key_id, runtime.clock())
    _cache(runtime).forget(old.prefix)


async def ensure_tenant(runtime: Runtime, tenant_id: UUID, name: str) -> None:
    """The dev tenant exists like any other, so the dev key can create keys too."""
    async with tenant_transaction(runtime.require_pool(), tenant_id) as conn:
        await rows.insert_tenant(conn, tenant_id, name, runtime.clock(), if_absent=True)


async def _live(conn: Connection, key_id: UUID) -> StoredKey:
    stored = await rows.get(conn, key_id, lock=True)
    if stored is None:
        raise ApiKeyNotFound(f"no API key {key_id}")
    if stored.revoked_at is not None:
        raise ApiKeyRevoked(f"API key {key_id} was revoked at {stored.revoked_at.isoformat()}")
    return stored
