"""Timers: one running per member; stopping one logs the time entry it measured."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from timecapture.domain.errors import TimerStopped
from timecapture.domain.time_entries import LogTimeEntry


@dataclass(frozen=True, slots=True)
class Timer:
    tenant_id: UUID
    id: UUID
    member_id: UUID
    project_id: UUID
    task: str | None
    description: str
    billable: bool | None
    tags: tuple[str, ...]
    started_at: datetime
    stopped_at: datetime | None = None
    time_entry_id: UUID | None = None

    @property
    def running(self) -> bool:
        return self.stopped_at is None


def entry_of(timer: Timer, now: datetime) -> LogTimeEntry:
    """The entry a stopped timer becomes; time entry rules (at most 24 h, ...) then apply."""
    if not timer.running:
        raise TimerStopped(
            f"timer {timer.id} stopped at {timer.stopped_at}",
            time_entry_id=str(timer.time_entry_id),
        )
    return LogTimeEntry(
        member_id=timer.member_id,
        project_id=timer.project_id,
        started_at=timer.started_at,
        ended_at=max(now, timer.started_at),
        billable=timer.billable,
        task=timer.task,
        description=timer.description,
        tags=timer.tags,
    )
