"""One async function per command; each opens its own tenant transaction."""

from __future__ import annotations

from servicekit.db import Connection, in_tenant_transaction
from servicekit.identity import Identity
from servicekit.outbox import enqueue
from servicekit.service import Runtime
from timecapture.db import time_entries as rows
from timecapture.domain.time_entries import LogTimeEntry, TimeEntry, new_time_entry
from timecapture.messaging.outgoing import time_entry_event


async def log_time_entry(runtime: Runtime, identity: Identity, cmd: LogTimeEntry) -> TimeEntry:
    """Store the entry and its `time_entry.logged` event in one transaction."""
    now = runtime.clock()
    entry = new_time_entry(cmd, entry_id=runtime.new_id(), tenant_id=identity.tenant_id, now=now)
    event = time_entry_event("time_entry.logged", entry, event_id=runtime.new_id(), occurred_at=now)

    async def write(conn: Connection) -> None:
        # Ids are fixed before the first attempt: a retry after a lost COMMIT finds the row
        # and publishes nothing twice.
        if await rows.insert(conn, entry):
            await enqueue(conn, event)

    await in_tenant_transaction(runtime.require_pool(), identity.tenant_id, write)
    return entry
