"""Domain changes turned into contract events."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from contracts.envelope import EventEnvelope
from contracts.events.time_entries import TimeEntryState
from contracts.registry import build_event
from timecapture.domain.time_entries import TimeEntry

PRODUCER = "timecapture"


def time_entry_event(
    event_type: str,
    entry: TimeEntry,
    *,
    event_id: UUID,
    occurred_at: datetime,
    correlation_id: UUID | None = None,
) -> EventEnvelope[Any]:
    state = TimeEntryState(
        entry_id=entry.id,
        version=entry.version,
        member_id=entry.member_id,
        project_id=entry.project_id,
        task=entry.task,
        description=entry.description,
        started_at=entry.started_at,
        ended_at=entry.ended_at,
        duration_seconds=entry.duration_seconds,
        billable=entry.billable,
        tags=list(entry.tags),
    )
    return build_event(
        event_type,
        state,
        tenant_id=entry.tenant_id,
        producer=PRODUCER,
        event_id=event_id,
        occurred_at=occurred_at,
        correlation_id=correlation_id,
    )
