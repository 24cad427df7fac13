"""Events turned into commands at the edge; the kit supplies the transaction and dedup."""

from __future__ import annotations

from typing import Any

from contracts.envelope import EventEnvelope
from contracts.events.time_entries import TimeEntryState
from invoicing import handlers
from invoicing.domain.ledger import RecordTimeEntry, action_for
from servicekit.db import Connection


async def on_time_entry_logged(conn: Connection, event: EventEnvelope[Any]) -> None:
    assert isinstance(event.payload, TimeEntryState)
    cmd = RecordTimeEntry(
        tenant_id=event.tenant_id,
        source_event_id=event.event_id,
        action=action_for(event.event_type),
        state=event.payload,
    )
    await handlers.record_time_entry(conn, cmd)
