"""Time entries: the rules, without I/O."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from contracts.money import currency_exponent, round_to_minor
from servicekit.identity import Identity
from servicekit.records import revised
from timecapture.domain.errors import NotYourTime, TimeEntryInvalid, TimeEntryLocked

MAX_DURATION = timedelta(hours=24)
# Events carry whole `duration_seconds`, which must be > 0: a shorter entry would count 0.
MIN_DURATION = timedelta(seconds=1)
# Far outside any real work, and inside every calendar the stack uses (Python, Postgres, JSON).
EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)
LATEST = datetime(2099, 12, 31, tzinfo=UTC)
# Clocks drift between a member's laptop and our servers.
FUTURE_TOLERANCE = timedelta(minutes=5)
EDITABLE = frozenset(
    {"member_id", "project_id", "started_at", "ended_at", "billable", "task", "description", "tags"}
)


@dataclass(frozen=True, slots=True)
class LogTimeEntry:
    """Command: record work a member did on a project. `billable=None`: the project's default."""

    member_id: UUID
    project_id: UUID
    started_at: datetime
    ended_at: datetime | None = None
    duration: timedelta | None = None
    billable: bool | None = None
    task: str | None = None
    description: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class TimeEntry:
    tenant_id: UUID
    id: UUID
    member_id: UUID
    project_id: UUID
    task: str | None
    description: str
    started_at: datetime
    ended_at: datetime
    billable: bool
    tags: tuple[str, ...]
    version: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None
    invoice_id: UUID | None = None
    cost_minor: int | None = None

    @property
    def duration_seconds(self) -> int:
        return int((self.ended_at - self.started_at).total_seconds())


@dataclass(frozen=True, slots=True)
class MemberFacts:
    archived: bool
    cost_rate_minor: int | None
    cost_currency: str | None


@dataclass(frozen=True, slots=True)
class ProjectFacts:
    archived: bool
    client_id: UUID
    client_archived: bool
    currency: str
    billable_by_default: bool
    manager_ids: tuple[UUID, ...]


@dataclass(frozen=True, slots=True)
class EntryContext:
    """What a write needs to know about the member, the project and the caller."""

    member: MemberFacts | None
    project: ProjectFacts | None
    caller_member_id: UUID | None


def end_of(started_at: datetime, ended_at: datetime | None, duration: timedelta | None) -> datetime:
    if (ended_at is None) == (duration is None):
        raise TimeEntryInvalid("ended_at", "give exactly one of ended_at and duration_minutes")
    if ended_at is not None:
        return ended_at
    try:
        return started_at + (duration or timedelta())
    except OverflowError:
        raise TimeEntryInvalid("started_at", "is beyond the calendar") from None


def check_times(started_at: datetime, ended_at: datetime, now: datetime) -> None:
    """An entry's times: the rules of logging, revising, stopping a timer and importing."""
    if started_at.tzinfo is None:
        raise TimeEntryInvalid("started_at", "must carry a UTC offset")
    if ended_at.tzinfo is None:
        raise TimeEntryInvalid("ended_at", "must carry a UTC offset")
    for name, value in (("started_at", started_at), ("ended_at", ended_at)):
        if not EARLIEST <= value <= LATEST:
            raise TimeEntryInvalid(name, f"must lie between {EARLIEST.year} and {LATEST.year}")
    if ended_at <= started_at:
        raise TimeEntryInvalid("ended_at", "must be after started_at")
    if ended_at - started_at < MIN_DURATION:
        raise TimeEntryInvalid("ended_at", "an entry lasts at least one second")
    if ended_at - started_at > MAX_DURATION:
        raise TimeEntryInvalid("ended_at", "an entry spans at most 24 hours")
    if ended_at > now + FUTURE_TOLERANCE:
        raise TimeEntryInvalid("ended_at", "must not be in the future")


def check_context(ctx: EntryContext, identity: Identity, member_id: UUID) -> ProjectFacts:
    """Member and project exist and are active, and the caller may log time for the member."""
    if ctx.member is None:
        raise TimeEntryInvalid("member_id", f"no member {member_id} in this tenant")
    if ctx.member.archived:
        raise TimeEntryInvalid("member_id", "the member is archived")
    if ctx.project is None:
        raise TimeEntryInvalid("project_id", "no such project in this tenant")
    if ctx.project.archived:
        raise TimeEntryInvalid("project_id", "the project is archived")
    if ctx.project.client_archived:
        raise TimeEntryInvalid("project_id", "the project's client is archived")
    check_acts_for(identity, ctx.caller_member_id, member_id, ctx.project.manager_ids)
    return ctx.project


def check_acts_for(
    identity: Identity,
    caller_member_id: UUID | None,
    member_id: UUID,
    manager_ids: tuple[UUID, ...],
) -> None:
    """Admins and managers act for anyone; a member for themself or on projects they manage."""
    if identity.role in ("admin", "manager"):
        return
    if caller_member_id is not None and (
        caller_member_id == member_id or caller_member_id in manager_ids
    ):
        return
    raise NotYourTime(
        "members log and edit only their own time, unless they manage the project"
        if caller_member_id is not None
        else f"principal {identity.principal!r} is not linked to a member of this tenant"
    )


def entry_cost(seconds: int, member: MemberFacts, currency: str) -> int | None:
    """Cost at the member's hourly cost rate, rounded half away from zero once per entry;
    None (unpriced) without a rate in the client's currency."""
    if member.cost_rate_minor is None or member.cost_currency != currency:
        return None
    minor = Decimal(seconds) * member.cost_rate_minor / 3600
    return round_to_minor(minor.scaleb(-currency_exponent(currency)), currency)


def new_time_entry(
    cmd: LogTimeEntry,
    *,
    entry_id: UUID,
    tenant_id: UUID,
    now: datetime,
    project: ProjectFacts,
    member: MemberFacts,
) -> TimeEntry:
    ended_at = end_of(cmd.started_at, cmd.ended_at, cmd.duration)
    check_times(cmd.started_at, ended_at, now)
    seconds = int((ended_at - cmd.started_at).total_seconds())
    return TimeEntry(
        tenant_id=tenant_id,
        id=entry_id,
        member_id=cmd.member_id,
        project_id=cmd.project_id,
        task=cmd.task,
        description=cmd.description,
        started_at=cmd.started_at,
        ended_at=ended_at,
        billable=project.billable_by_default if cmd.billable is None else cmd.billable,
        tags=cmd.tags,
        version=1,
        created_at=now,
        updated_at=now,
        cost_minor=entry_cost(seconds, member, project.currency),
    )


def check_editable(entry: TimeEntry) -> None:
    if entry.invoice_id is not None:
        raise TimeEntryLocked(
            f"time entry {entry.id} is on issued invoice {entry.invoice_id}; "
            "void the invoice or add an adjustment instead",
            invoice_id=str(entry.invoice_id),
        )


def revise_time_entry(
    entry: TimeEntry, changes: Mapping[str, Any], *, duration: timedelta | None, now: datetime
) -> TimeEntry:
    """The entry with `changes` applied; a duration moves the end, keeping the start."""
    unknown = set(changes) - EDITABLE
    if unknown:
        raise TimeEntryInvalid(sorted(unknown)[0], "cannot be changed")
    if duration is not None:
        if "ended_at" in changes:
            raise TimeEntryInvalid("ended_at", "give at most one of ended_at and duration_minutes")
        changes = {**changes, "ended_at": changes.get("started_at", entry.started_at) + duration}
    new = revised(entry, changes, now)
    if new is not entry and {"started_at", "ended_at"} & set(changes):
        check_times(new.started_at, new.ended_at, now)
    return new


def priced(entry: TimeEntry, member: MemberFacts, currency: str) -> TimeEntry:
    return dataclasses.replace(
        entry, cost_minor=entry_cost(entry.duration_seconds, member, currency)
    )


def deleted(entry: TimeEntry, now: datetime) -> TimeEntry:
    return dataclasses.replace(entry, deleted_at=now, version=entry.version + 1, updated_at=now)
