"""Time entry rules: `new_time_entry` without I/O, the clock injected as `now`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from timecapture.domain.errors import TimeEntryInvalid
from timecapture.domain.time_entries import (
    FUTURE_TOLERANCE,
    MAX_DURATION,
    LogTimeEntry,
    MemberFacts,
    ProjectFacts,
    TimeEntry,
    new_time_entry,
)

NOW = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
ENTRY_ID = uuid.UUID("00000000-0000-7000-8000-000000000001")
TENANT_ID = uuid.UUID("00000000-0000-4000-8000-0000000000aa")
MEMBER_ID = uuid.UUID("00000000-0000-4000-8000-0000000000bb")
PROJECT_ID = uuid.UUID("00000000-0000-4000-8000-0000000000cc")


def command(
    started_at: datetime,
    *,
    ended_at: datetime | None = None,
    duration: timedelta | None = None,
) -> LogTimeEntry:
    return LogTimeEntry(
        member_id=MEMBER_ID,
        project_id=PROJECT_ID,
        started_at=started_at,
        ended_at=ended_at,
        duration=duration,
        billable=False,
        task="design",
        description="wireframes",
        tags=("ux", "v2"),
    )


PROJECT = ProjectFacts(
    archived=False,
    client_id=uuid.UUID(int=5),
    client_archived=False,
    currency="EUR",
    billable_by_default=True,
    manager_ids=(),
)
MEMBER = MemberFacts(archived=False, cost_rate_minor=None, cost_currency=None)


def log(cmd: LogTimeEntry, now: datetime = NOW) -> TimeEntry:
    return new_time_entry(
        cmd, entry_id=ENTRY_ID, tenant_id=TENANT_ID, now=now, project=PROJECT, member=MEMBER
    )


def refused(cmd: LogTimeEntry, now: datetime = NOW) -> TimeEntryInvalid:
    with pytest.raises(TimeEntryInvalid) as caught:
        log(cmd, now)
    return caught.value


def test_entry_with_end_is_version_one_of_the_tenant() -> None:
    start = NOW - timedelta(hours=2)
    entry = log(command(start, ended_at=start + timedelta(minutes=90)))
    assert entry == TimeEntry(
        id=ENTRY_ID,
        tenant_id=TENANT_ID,
        member_id=MEMBER_ID,
        project_id=PROJECT_ID,
        started_at=start,
        ended_at=start + timedelta(minutes=90),
        billable=False,
        task="design",
        description="wireframes",
        tags=("ux", "v2"),
        version=1,
        created_at=NOW,
        updated_at=NOW,
    )
    assert entry.duration_seconds == 90 * 60


def test_entry_with_duration_ends_after_that_duration() -> None:
    start = NOW - timedelta(hours=2)
    entry = log(command(start, duration=timedelta(minutes=45)))
    assert entry.ended_at == start + timedelta(minutes=45)
    assert entry.duration_seconds == 45 * 60


@given(
    start=st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2099, 12, 30),  # entries lie before LATEST (2099-12-31)
        timezones=st.builds(
            timezone, st.integers(-14 * 60, 14 * 60).map(lambda m: timedelta(minutes=m))
        ),
    ),
    minutes=st.integers(1, 24 * 60),
)
def test_any_valid_start_and_duration_gives_that_many_seconds(
    start: datetime, minutes: int
) -> None:
    end = start + timedelta(minutes=minutes)
    entry = log(command(start, duration=timedelta(minutes=minutes)), now=end)
    assert entry.duration_seconds == minutes * 60
    assert entry.ended_at == end
    assert entry.started_at == start


@pytest.mark.parametrize("after", [timedelta(0), timedelta(seconds=-1), timedelta(hours=-3)])
def test_end_not_after_start_is_refused(after: timedelta) -> None:
    start = NOW - timedelta(hours=1)
    error = refused(command(start, ended_at=start + after))
    assert error.field == "ended_at"
    assert error.status == 422
    assert error.extensions["errors"] == [
        {"pointer": "#/ended_at", "detail": "must be after started_at"}
    ]


@pytest.mark.parametrize(
    "after",
    [timedelta(microseconds=1), timedelta(milliseconds=500), timedelta(microseconds=999_999)],
)
def test_entry_under_a_second_is_refused(after: timedelta) -> None:
    # Its event would carry duration_seconds 0, which the contract refuses.
    start = NOW - timedelta(hours=1)
    error = refused(command(start, ended_at=start + after))
    assert error.field == "ended_at"
    assert error.extensions["errors"] == [
        {"pointer": "#/ended_at", "detail": "an entry lasts at least one second"}
    ]


def test_exactly_one_second_is_allowed() -> None:
    start = NOW - timedelta(hours=1)
    assert log(command(start, ended_at=start + timedelta(seconds=1))).duration_seconds == 1


def test_exactly_24_hours_is_allowed() -> None:
    start = NOW - timedelta(days=2)
    assert log(command(start, ended_at=start + MAX_DURATION)).duration_seconds == 24 * 3600


@pytest.mark.parametrize(
    "cmd",
    [
        command(NOW - timedelta(days=2), ended_at=NOW - timedelta(days=1) + timedelta(seconds=1)),
        command(NOW - timedelta(days=3), duration=timedelta(hours=24, minutes=1)),
    ],
    ids=["ended_at", "duration"],
)
def test_more_than_24_hours_is_refused(cmd: LogTimeEntry) -> None:
    error = refused(cmd)
    assert error.field == "ended_at"
    assert "24 hours" in error.detail


def test_end_within_future_tolerance_is_allowed() -> None:
    start = NOW - timedelta(hours=1)
    entry = log(command(start, ended_at=NOW + FUTURE_TOLERANCE))
    assert entry.ended_at == NOW + timedelta(minutes=5)


@pytest.mark.parametrize("beyond", [timedelta(seconds=1), timedelta(minutes=6), timedelta(days=1)])
def test_end_beyond_future_tolerance_is_refused(beyond: timedelta) -> None:
    end = NOW + FUTURE_TOLERANCE + beyond
    error = refused(command(end - timedelta(hours=1), ended_at=end))
    assert error.field == "ended_at"
    assert error.detail == "must not be in the future"


def test_future_is_judged_against_the_injected_now() -> None:
    start = NOW + timedelta(days=10)
    cmd = command(start, duration=timedelta(hours=1))
    assert refused(cmd, now=NOW).detail == "must not be in the future"
    assert log(cmd, now=start + timedelta(hours=1)).ended_at == start + timedelta(hours=1)


def test_both_end_and_duration_are_refused() -> None:
    start = NOW - timedelta(hours=3)
    error = refused(
        command(start, ended_at=start + timedelta(hours=1), duration=timedelta(hours=1))
    )
    assert error.field == "ended_at"
    assert "exactly one" in error.detail


def test_neither_end_nor_duration_is_refused() -> None:
    error = refused(command(NOW - timedelta(hours=3)))
    assert error.field == "ended_at"
    assert "exactly one" in error.detail


def test_naive_start_is_refused() -> None:
    start = datetime(2025, 3, 14, 9, 0)
    error = refused(command(start, ended_at=start + timedelta(hours=1)))
    assert error.field == "started_at"
    assert error.extensions["errors"][0]["pointer"] == "#/started_at"


def test_naive_start_with_duration_is_refused() -> None:
    error = refused(command(datetime(2025, 3, 14, 9, 0), duration=timedelta(hours=1)))
    assert error.field == "started_at"


def test_naive_end_is_refused() -> None:
    start = NOW - timedelta(hours=3)
    error = refused(command(start, ended_at=datetime(2025, 3, 14, 10, 0)))
    assert error.field == "ended_at"
    assert error.detail == "must carry a UTC offset"


def test_offsets_are_compared_as_instants() -> None:
    paris = timezone(timedelta(hours=1))
    start = datetime(2025, 3, 14, 9, 0, tzinfo=paris)
    end_in_utc = datetime(2025, 3, 14, 8, 30, tzinfo=UTC)
    assert log(command(start, ended_at=end_in_utc)).duration_seconds == 30 * 60


@pytest.mark.parametrize(
    "start", [datetime(1969, 12, 31, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)]
)
def test_starts_outside_the_supported_calendar_are_refused(start: datetime) -> None:
    error = refused(command(start, duration=timedelta(hours=1)), now=start + timedelta(hours=2))
    assert error.field == "started_at"
