"""The unbilled ledger's rule: apply entry versions in order, ignore stale ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from contracts.events.time_entries import TimeEntryState

LedgerAction = Literal["upsert", "delete"]
ACTIONS: dict[str, LedgerAction] = {
    "time_entry.logged": "upsert",
    "time_entry.revised": "upsert",
    "time_entry.deleted": "delete",
}


@dataclass(frozen=True, slots=True)
class RecordTimeEntry:
    """Command: bring the ledger's copy of one entry up to `state.version`."""

    tenant_id: UUID
    source_event_id: UUID
    action: LedgerAction
    state: TimeEntryState


class UnknownLedgerEvent(ValueError):
    pass


def action_for(event_type: str) -> LedgerAction:
    try:
        return ACTIONS[event_type]
    except KeyError:
        raise UnknownLedgerEvent(f"invoicing does not handle {event_type!r}") from None
