"""Events turned into commands at the edge; the kit supplies the transaction and dedup."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from contracts.envelope import EventEnvelope
from contracts.events.time_entries import TimeEntryState
from invoicing import handlers
from invoicing.domain.ledger import RecordTimeEntry, action_for
from servicekit.db import Connection


def _command(event: EventEnvelope[Any]) -> RecordTimeEntry:
    assert isinstance(event.payload, TimeEntryState)
    return RecordTimeEntry(
        tenant_id=event.tenant_id,
        source_event_id=event.event_id,
        action=action_for(event.event_type),
        state=event.payload,
    )


async def on_time_entry_logged(conn: Connection, event: EventEnvelope[Any]) -> None:
    await handlers.record_time_entry(conn, _command(event))


async def on_time_entries_logged(conn: Connection, events: Sequence[EventEnvelope[Any]]) -> None:
    """The set-based form of `on_time_entry_logged`, for a batch of one tenant's events."""
    await handlers.record_time_entries(conn, [_command(e) for e in events])
