"""asyncpg pool per service and tenant-scoped transactions (row-level security)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeAlias, TypeVar
from uuid import UUID

import asyncpg

TENANT_SETTING = "billstream.tenant_id"

log = logging.getLogger(__name__)
T = TypeVar("T")

# A plain connection or one borrowed from a pool: both speak the same query API.
# (Quoted: asyncpg's classes are generic only in its stubs.)
Connection: TypeAlias = (
    "asyncpg.Connection[asyncpg.Record] | asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"
)
Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"

# Lost or refused connections: the database is unreachable, not the work wrong. Timeouts
# and protocol errors are not here; they are ordinary failures with bounded retries.
# A connection lost while COMMIT was in flight leaves the outcome unknown, so work retried
# with these must be idempotent (writes keyed by ids chosen before the first attempt).
RETRYABLE_DB_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.TooManyConnectionsError,
    ConnectionError,
    # Postgres rolled the whole transaction back; running it again is the prescribed remedy.
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
)


async def create_pool(
    dsn: str,
    *,
    schema: str,
    application_name: str,
    min_size: int,
    max_size: int,
    command_timeout_s: float,
) -> Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        command_timeout=command_timeout_s,
        server_settings={"search_path": schema, "application_name": application_name},
        reset=_keep_session,
    )
    assert pool is not None
    return pool


async def _keep_session(conn: Connection) -> None:
    """Replaces asyncpg's default reset query (UNLISTEN, RESET ALL, advisory unlock: a round
    trip per request) for session state nothing here keeps: tenant settings are
    transaction-local, advisory locks transaction-scoped or unlocked by their taker (the
    migrations end their session if they cannot), and the relay LISTENs on a connection of
    its own. asyncpg still runs `Connection._reset` first, which rolls back a transaction a
    cancelled request left open."""


async def set_tenant(conn: Connection, tenant_id: UUID) -> None:
    """Scope the current transaction to one tenant; RLS policies read this setting."""
    await conn.execute("SELECT set_config($1, $2, true)", TENANT_SETTING, str(tenant_id))


@asynccontextmanager
async def tenant_transaction(pool: Pool, tenant_id: UUID) -> AsyncIterator[Connection]:
    """A transaction in which row-level security shows only `tenant_id`'s rows.

    BEGIN and the tenant setting go in one round trip (a simple query; the id is a UUID, so
    its text is safe to inline): every request pays for each round trip.
    """
    tenant = UUID(str(tenant_id))
    async with pool.acquire() as conn:
        await conn.execute(f"BEGIN; SELECT set_config('{TENANT_SETTING}', '{tenant}', true)")
        try:
            yield conn
        except BaseException:
            if not conn.is_closed():
                await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")


async def retry_transient(
    work: Callable[[], Awaitable[T]], *, attempts: int = 3, delay_s: float = 0.1
) -> T:
    """Run `work` again when the database connection was lost; `work` must be idempotent."""
    for attempt in range(1, attempts + 1):
        try:
            return await work()
        except RETRYABLE_DB_ERRORS as exc:
            if attempt == attempts:
                raise
            log.warning("database connection lost, retrying", extra={"error": repr(exc)})
            await asyncio.sleep(delay_s * attempt)
    raise AssertionError("unreachable")


async def in_tenant_transaction(
    pool: Pool, tenant_id: UUID, work: Callable[[Connection], Awaitable[T]]
) -> T:
    """`work(conn)` inside a tenant transaction, retried on a dead pooled connection."""

    async def attempt() -> T:
        async with tenant_transaction(pool, tenant_id) as conn:
            return await work(conn)

    return await retry_transient(attempt)


@asynccontextmanager
async def savepoint(conn: Connection, name: str = "step") -> AsyncIterator[None]:
    """Undo only this block on error, inside a tenant transaction (begun with a plain BEGIN,
    where asyncpg's `conn.transaction()` refuses to nest)."""
    await conn.execute(f"SAVEPOINT {name}")
    try:
        yield
    except BaseException:
        if not conn.is_closed():
            await conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
        raise
    await conn.execute(f"RELEASE SAVEPOINT {name}")
