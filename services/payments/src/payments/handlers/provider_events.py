"""A rejected provider event resolved by a person, when no recording settles it: a dispute's
withdrawal and reinstatement that were both rejected (Stripe took the money and gave it
back: nothing to record), money handled outside Billstream, a second withdrawal of a
dispute. Reconciliation then no longer lists it; the event keeps what it reported, and who
resolved it, when and why."""

from __future__ import annotations

import dataclasses
from uuid import UUID

from payments.db import providers as rows
from payments.domain.providers import EventNotFound, ProviderEvent, ResolutionRefused
from servicekit.db import Connection
from servicekit.service import Runtime


async def resolve(
    conn: Connection, runtime: Runtime, event_id: UUID, note: str, by: str
) -> ProviderEvent:
    """Once: the same resolution again answers the event as it is (a retry); another one of
    a resolved event is refused, so the first person's reason is never overwritten."""
    found = await rows.event_by_id(conn, event_id, lock=True)
    if found is None:
        raise EventNotFound(f"no provider event {event_id}")
    if found.outcome != "rejected":
        raise ResolutionRefused(
            f"the event was {found.outcome}: only a rejected event is listed to resolve"
        )
    if found.resolved_at is not None:
        if found.resolution_note == note:
            return found
        raise ResolutionRefused(
            f"resolved already by {found.resolved_by} at {found.resolved_at.isoformat()}: "
            f"{found.resolution_note}"
        )
    resolved = dataclasses.replace(
        found, resolved_at=runtime.clock(), resolved_by=by, resolution_note=note
    )
    await rows.resolve_event(conn, resolved)
    return resolved
