"""The bulk encoder writes exactly the bytes of the pydantic envelope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from contracts.bulk import time_entry_event_json, utc_text
from contracts.events.time_entries import TimeEntryState
from contracts.registry import build_event, decode_event, encode_event

texts = st.text(max_size=60)
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m))
)


@given(
    event_type=st.sampled_from(["time_entry.logged", "time_entry.revised", "time_entry.deleted"]),
    ids=st.lists(st.uuids(), min_size=5, max_size=5),
    occurred_at=instants,
    started_at=instants,
    offset=offsets,
    seconds=st.integers(min_value=1, max_value=86_400),
    micros=st.integers(min_value=0, max_value=999_999),
    version=st.integers(min_value=1, max_value=10_000),
    task=st.none() | texts,
    description=texts,
    billable=st.booleans(),
    tags=st.lists(st.text(min_size=1, max_size=20), max_size=5),
)
def test_bytes_equal_the_pydantic_envelope(
    event_type: str,
    ids: list[UUID],
    occurred_at: datetime,
    started_at: datetime,
    offset: timezone,
    seconds: int,
    micros: int,
    version: int,
    task: str | None,
    description: str,
    billable: bool,
    tags: list[str],
) -> None:
    event_id, tenant_id, entry_id, member_id, project_id = ids
    started = started_at.astimezone(offset)
    ended = started + timedelta(seconds=seconds, microseconds=micros)
    state = TimeEntryState(
        entry_id=entry_id,
        version=version,
        member_id=member_id,
        project_id=project_id,
        task=task,
        description=description,
        started_at=started.astimezone(UTC),
        ended_at=ended.astimezone(UTC),
        duration_seconds=int((ended - started).total_seconds()),
        billable=billable,
        tags=tags,
    )
    expected = encode_event(
        build_event(
            event_type,
            state,
            tenant_id=tenant_id,
            producer="timecapture",
            event_id=event_id,
            occurred_at=occurred_at,
        )
    )

    fast = time_entry_event_json(
        event_type=event_type,
        event_id=event_id,
        occurred_at=occurred_at,
        tenant_id=tenant_id,
        producer="timecapture",
        entry_id=entry_id,
        version=version,
        member_id=member_id,
        project_id=project_id,
        task=task,
        description=description,
        started_at=started,
        ended_at=ended,
        billable=billable,
        tags=tags,
    )

    assert fast == expected
    assert decode_event(fast).payload == state
    as_text = time_entry_event_json(
        event_type=event_type,
        event_id=str(event_id),
        occurred_at=utc_text(occurred_at),
        tenant_id=str(tenant_id),
        producer="timecapture",
        entry_id=str(entry_id),
        version=version,
        member_id=str(member_id),
        project_id=str(project_id),
        task=task,
        description=description,
        started_at=started,
        ended_at=ended,
        billable=billable,
        tags=tags,
    )
    assert as_text == expected
