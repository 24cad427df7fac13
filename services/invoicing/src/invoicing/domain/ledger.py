"""The unbilled ledger's rule: apply entry versions in order, ignore stale ones."""

from __future__ import annotations

from collections.abc import Iterable
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


def latest_per_entry(cmds: Iterable[RecordTimeEntry]) -> list[RecordTimeEntry]:
    """For each entry, the command with the highest version (the first of equal ones).

    Recording only these leaves the ledger as recording every command in order would: a
    version changes the row only if it is higher than the stored one, so of several the
    first highest wins and the others change nothing. Sorted by (tenant, entry), so two
    transactions upserting overlapping entries lock their rows in one order.
    """
    latest: dict[tuple[UUID, UUID], RecordTimeEntry] = {}
    for cmd in cmds:
        key = (cmd.tenant_id, cmd.state.entry_id)
        kept = latest.get(key)
        if kept is None or cmd.state.version > kept.state.version:
            latest[key] = cmd
    return [latest[key] for key in sorted(latest, key=lambda k: (k[0].int, k[1].int))]
