"""Time entries: the rules, without I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from timecapture.domain.errors import TimeEntryInvalid

MAX_DURATION = timedelta(hours=24)
# Clocks drift between a member's laptop and our servers.
FUTURE_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class LogTimeEntry:
    """Command: record work a member did on a project."""

    member_id: UUID
    project_id: UUID
    started_at: datetime
    ended_at: datetime | None = None
    duration: timedelta | None = None
    billable: bool = True
    task: str | None = None
    description: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class TimeEntry:
    id: UUID
    tenant_id: UUID
    member_id: UUID
    project_id: UUID
    started_at: datetime
    ended_at: datetime
    billable: bool
    task: str | None
    description: str
    tags: tuple[str, ...]
    version: int
    created_at: datetime
    updated_at: datetime

    @property
    def duration_seconds(self) -> int:
        return int((self.ended_at - self.started_at).total_seconds())


def new_time_entry(
    cmd: LogTimeEntry, *, entry_id: UUID, tenant_id: UUID, now: datetime
) -> TimeEntry:
    if cmd.started_at.tzinfo is None:
        raise TimeEntryInvalid("started_at", "must carry a UTC offset")
    if (cmd.ended_at is None) == (cmd.duration is None):
        raise TimeEntryInvalid("ended_at", "give exactly one of ended_at and duration_minutes")
    ended_at = (
        cmd.ended_at if cmd.ended_at is not None else cmd.started_at + (cmd.duration or timedelta())
    )
    if ended_at.tzinfo is None:
        raise TimeEntryInvalid("ended_at", "must carry a UTC offset")
    if ended_at <= cmd.started_at:
        raise TimeEntryInvalid("ended_at", "must be after started_at")
    if ended_at - cmd.started_at > MAX_DURATION:
        raise TimeEntryInvalid("ended_at", "an entry spans at most 24 hours")
    if ended_at > now + FUTURE_TOLERANCE:
        raise TimeEntryInvalid("ended_at", "must not be in the future")
    return TimeEntry(
        id=entry_id,
        tenant_id=tenant_id,
        member_id=cmd.member_id,
        project_id=cmd.project_id,
        started_at=cmd.started_at,
        ended_at=ended_at,
        billable=cmd.billable,
        task=cmd.task,
        description=cmd.description,
        tags=cmd.tags,
        version=1,
        created_at=now,
        updated_at=now,
    )
