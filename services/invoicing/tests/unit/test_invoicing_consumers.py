"""`on_time_entry_logged` turns each event into a `RecordTimeEntry` command, without I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts.events.time_entries import TimeEntryState
from contracts.registry import build_event
from invoicing.domain.ledger import RecordTimeEntry
from invoicing.handlers import ledger as handlers
from invoicing.messaging.consumers import on_time_entry_logged

START = datetime(2025, 3, 14, 9, 0, tzinfo=UTC)


def state(version: int) -> TimeEntryState:
    return TimeEntryState(
        entry_id=uuid.uuid4(),
        version=version,
        member_id=uuid.uuid4(),
        project_id=uuid.uuid4(),
        started_at=START,
        ended_at=START + timedelta(hours=1),
        duration_seconds=3600,
        billable=True,
    )


@pytest.mark.parametrize(
    ("event_type", "version", "action"),
    [
        ("time_entry.logged", 1, "upsert"),
        ("time_entry.revised", 2, "upsert"),
        ("time_entry.deleted", 3, "delete"),
    ],
)
async def test_event_becomes_record_command(
    monkeypatch: pytest.MonkeyPatch, event_type: str, version: int, action: str
) -> None:
    recorded: list[tuple[Any, RecordTimeEntry]] = []

    async def record(conn: Any, cmd: RecordTimeEntry) -> None:
        recorded.append((conn, cmd))

    monkeypatch.setattr(handlers, "record_time_entry", record)
    payload = state(version)
    event = build_event(
        event_type,
        payload,
        tenant_id=uuid.uuid4(),
        producer="timecapture",
        event_id=uuid.uuid4(),
        occurred_at=START + timedelta(hours=2),
    )
    conn = object()

    await on_time_entry_logged(conn, event)  # type: ignore[arg-type]

    assert recorded == [
        (
            conn,
            RecordTimeEntry(
                tenant_id=event.tenant_id,
                source_event_id=event.event_id,
                action=action,  # type: ignore[arg-type]
                state=payload,
            ),
        )
    ]
