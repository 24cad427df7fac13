"""The unit of work and the effects several commands share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar
from uuid import UUID

import asyncpg

from servicekit.db import Connection, in_tenant_transaction
from servicekit.identity import Identity
from servicekit.outbox import enqueue
from servicekit.service import Runtime
from timecapture.db import budgets as budget_rows
from timecapture.domain.budgets import Usage, crossings
from timecapture.domain.errors import DuplicateValue
from timecapture.messaging.outgoing import budget_event

T = TypeVar("T")

# Unique constraints that a client can hit, and the request field each one is about.
_UNIQUE_FIELDS = {
    "clients_name_unique": ("name", "a client with this name exists"),
    "projects_code_unique": ("code", "a project with this code exists"),
    "members_email_unique": ("email", "a member with this email exists"),
    "members_principal_unique": ("principal", "another member is linked to this principal"),
}


async def transaction(
    runtime: Runtime, identity: Identity, work: Callable[[Connection], Awaitable[T]]
) -> T:
    with unique_conflicts():
        return await in_tenant_transaction(runtime.require_pool(), identity.tenant_id, work)


@contextmanager
def unique_conflicts() -> Iterator[None]:
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        known = _UNIQUE_FIELDS.get(exc.constraint_name or "")
        if known is None:
            raise
        raise DuplicateValue(*known) from None


async def track_usage(
    conn: Connection,
    runtime: Runtime,
    tenant_id: UUID,
    project_id: UUID,
    delta: Usage,
    *,
    entry_id: UUID | None,
    now: datetime,
) -> None:
    """Add `delta` to the project's usage and announce each budget threshold crossed, once."""
    change = await budget_rows.add_usage(conn, project_id, delta)
    await announce_crossings(
        conn, runtime, tenant_id, project_id, change, entry_id=entry_id, now=now, check_all=False
    )


async def announce_crossings(
    conn: Connection,
    runtime: Runtime,
    tenant_id: UUID,
    project_id: UUID,
    change: budget_rows.UsageChange,
    *,
    entry_id: UUID | None,
    now: datetime,
    check_all: bool,
) -> None:
    for crossing in crossings(change.budget, None if check_all else change.before, change.after):
        if await budget_rows.announce(conn, project_id, crossing, now):
            event = budget_event(
                tenant_id,
                project_id,
                change.client_id,
                crossing,
                currency=change.currency,
                entry_id=entry_id,
                event_id=runtime.new_id(),
                occurred_at=now,
            )
            await enqueue(conn, event)
