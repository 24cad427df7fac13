"""Create, revise and delete (or archive) clients; every change publishes `client.changed`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from servicekit.db import Connection
from servicekit.identity import Identity
from servicekit.outbox import enqueue
from servicekit.records import revised
from servicekit.service import Runtime
from servicekit.versioning import check_version
from timecapture.db import clients as rows
from timecapture.db import projects as project_rows
from timecapture.domain.clients import Client
from timecapture.domain.errors import ClientNotFound, CurrencyLocked
from timecapture.handlers.common import transaction
from timecapture.messaging.outgoing import client_event, project_event


async def create_client(runtime: Runtime, identity: Identity, fields: Mapping[str, Any]) -> Client:
    now = runtime.clock()
    client = Client(
        tenant_id=identity.tenant_id,
        id=runtime.new_id(),
        version=1,
        created_at=now,
        updated_at=now,
        archived=False,
        **fields,
    )

    async def write(conn: Connection) -> Client:
        if await rows.insert(conn, client):
            await enqueue(conn, client_event(client, event_id=runtime.new_id(), occurred_at=now))
        return client

    return await transaction(runtime, identity, write)


async def revise_client(
    runtime: Runtime,
    identity: Identity,
    client_id: UUID,
    changes: Mapping[str, Any],
    *,
    if_match: str | None,
) -> Client:
    now = runtime.clock()

    async def write(conn: Connection) -> Client:
        client = await _locked(conn, client_id, if_match)
        new = revised(client, changes, now)
        if new is client:
            return client
        if new.currency != client.currency:
            # Entries price their cost in the client's currency: lock the projects first so
            # no entry is being logged while the currency changes.
            await project_rows.of_client(conn, client_id)
        if new.currency != client.currency and await rows.has_time(conn, client_id):
            raise CurrencyLocked(
                "the client has time entries; its currency is fixed (create a new client)",
                errors=[{"pointer": "#/currency", "detail": "fixed once time is logged"}],
            )
        await rows.update(conn, new)
        await enqueue(conn, client_event(new, event_id=runtime.new_id(), occurred_at=now))
        return new

    return await transaction(runtime, identity, write)


async def delete_client(
    runtime: Runtime, identity: Identity, client_id: UUID, *, if_match: str | None
) -> Client | None:
    """Delete a client that never had time, with its projects; otherwise archive it.

    Returns the archived client, or None when it was deleted."""
    now = runtime.clock()

    async def write(conn: Connection) -> Client | None:
        client = await _locked(conn, client_id, if_match)
        # Locking the projects first waits for entry and timer writes holding them, so the
        # time check below sees what they committed.
        projects = await project_rows.of_client(conn, client_id)
        if await rows.has_time(conn, client_id):
            archived = revised(client, {"archived": True}, now)
            if archived is not client:
                await rows.update(conn, archived)
                await enqueue(
                    conn, client_event(archived, event_id=runtime.new_id(), occurred_at=now)
                )
            return archived
        for project in projects:
            await project_rows.delete(conn, project.id)
            await enqueue(
                conn,
                project_event(project, event_id=runtime.new_id(), occurred_at=now, deleted=True),
            )
        await rows.delete(conn, client_id)
        await enqueue(
            conn, client_event(client, event_id=runtime.new_id(), occurred_at=now, deleted=True)
        )
        return None

    return await transaction(runtime, identity, write)


async def _locked(conn: Connection, client_id: UUID, if_match: str | None) -> Client:
    client = await rows.get(conn, client_id, lock=True)
    if client is None:
        raise ClientNotFound(f"no client {client_id}")
    check_version(if_match, client.version)
    return client
