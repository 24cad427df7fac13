"""Bulk import of time entries: every row checked, then COPY of entries and outbox rows."""

from __future__ import annotations

import asyncio
import bisect
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from contracts.bulk import time_entry_event_json, utc_text
from servicekit.clock import uuid7_texts
from servicekit.db import Connection
from servicekit.identity import Identity
from servicekit.outbox import EncodedEvent, copy_encoded
from servicekit.service import Runtime
from timecapture.db import imports as import_rows
from timecapture.domain.budgets import Usage
from timecapture.domain.errors import ImportRejected, NotYourTime
from timecapture.domain.imports import ImportRow, RowError, overlapping_in_batch
from timecapture.domain.time_entries import MemberFacts, ProjectFacts, check_acts_for, entry_cost
from timecapture.handlers.common import track_usage, transaction
from timecapture.messaging.outgoing import PRODUCER
from timecapture.settings import TimecaptureSettings

Mode = Literal["all_or_nothing", "best_effort"]
TOPIC = "time-entry-logged"
# Entry ids are listed in the report for imports up to this size.
MAX_LISTED_IDS = 1000


@dataclass(frozen=True, slots=True)
class ImportReport:
    mode: Mode
    received: int
    imported: int
    errors: list[RowError]
    entry_ids: list[UUID] | None


@dataclass(frozen=True, slots=True)
class _Resolved:
    row: ImportRow
    member_id: UUID
    member: MemberFacts
    project_id: UUID
    project: ProjectFacts


async def import_entries(
    runtime: Runtime,
    identity: Identity,
    valid: list[ImportRow],
    errors: list[RowError],
    *,
    received: int,
    mode: Mode,
) -> ImportReport:
    """All or nothing: any bad row rejects the import (422, nothing written). Best effort:
    good rows are imported, bad ones reported."""
    now = runtime.clock()
    # Fixed before the first attempt: a retry after a lost COMMIT sees the first id stored.
    # Bulk ids come from uuid7_texts, not runtime.new_id: a million UUID objects cost seconds.
    texts = uuid7_texts(2 * len(valid))
    ids = list(zip(texts[::2], texts[1::2], strict=True))
    settings = runtime.settings
    assert isinstance(settings, TimecaptureSettings)

    async def write(conn: Connection) -> ImportReport:
        # A retry after a lost COMMIT: the first attempt's rows are there; report them.
        already = await import_rows.stored_count(conn, [entry_id for entry_id, _ in ids])
        if already:
            return ImportReport(mode, received, already, errors, None)
        resolved, refused = await _resolve(conn, identity, valid)
        if settings.reject_overlapping_entries:
            resolved, overlapping = await _without_overlaps(conn, resolved)
            refused += overlapping
        bad = sorted([*errors, *refused], key=lambda e: e.row)
        if mode == "all_or_nothing" and bad:
            raise ImportRejected(received, bad)
        by_row = {r.row: pair for r, pair in zip(valid, ids, strict=True)}
        stored = [(r, *by_row[r.row.row]) for r in resolved]
        if stored:
            await _write(conn, runtime, identity, stored, now)
        listed = (
            [UUID(entry_id) for _, entry_id, _ in stored] if received <= MAX_LISTED_IDS else None
        )
        return ImportReport(mode, received, len(stored), bad, listed)

    return await transaction(runtime, identity, write)


async def _resolve(
    conn: Connection, identity: Identity, valid: list[ImportRow]
) -> tuple[list[_Resolved], list[RowError]]:
    catalog = await import_rows.catalog(
        conn, {r.member for r in valid}, {r.project for r in valid}, identity.principal
    )
    resolved: list[_Resolved] = []
    refused: list[RowError] = []
    for r in valid:
        member_field = "member_id" if isinstance(r.member, UUID) else "email"
        project_field = "project_id" if isinstance(r.project, UUID) else "project_code"
        member = catalog.members.get(r.member)
        project = catalog.projects.get(r.project)
        if member is None:
            refused.append(RowError(r.row, member_field, "no such member in this tenant"))
        elif member[1].archived:
            refused.append(RowError(r.row, member_field, "the member is archived"))
        elif project is None:
            refused.append(RowError(r.row, project_field, "no such project in this tenant"))
        elif project[1].archived or project[1].client_archived:
            refused.append(RowError(r.row, project_field, "the project or its client is archived"))
        else:
            try:
                check_acts_for(
                    identity, catalog.caller_member_id, member[0], project[1].manager_ids
                )
            except NotYourTime as exc:
                refused.append(RowError(r.row, member_field, exc.detail))
                continue
            resolved.append(_Resolved(r, member[0], member[1], project[0], project[1]))
    return resolved, refused


async def _without_overlaps(
    conn: Connection, resolved: list[_Resolved]
) -> tuple[list[_Resolved], list[RowError]]:
    if not resolved:
        return resolved, []
    member_of = {r.row.row: r.member_id for r in resolved}
    refused = overlapping_in_batch([r.row for r in resolved], member_of)
    start = min(r.row.started_at for r in resolved)
    end = max(r.row.ended_at for r in resolved)
    periods: dict[UUID, list[tuple[datetime, datetime]]] = defaultdict(list)
    for member_id, started_at, ended_at in await import_rows.existing_periods(
        conn, sorted(set(member_of.values())), start, end
    ):
        periods[member_id].append((started_at, ended_at))
    index = {m: _Periods(p) for m, p in periods.items()}
    for r in resolved:
        found = index.get(r.member_id)
        if found is not None and found.overlaps(r.row.started_at, r.row.ended_at):
            refused.append(RowError(r.row.row, "started_at", "overlaps a logged time entry"))
    bad_rows = {e.row for e in refused}
    return [r for r in resolved if r.row.row not in bad_rows], refused


class _Periods:
    """Logged periods of one member; `overlaps` in O(log n)."""

    def __init__(self, periods: list[tuple[datetime, datetime]]) -> None:
        periods.sort()
        self.starts = [s for s, _ in periods]
        self.max_end: list[datetime] = []
        for _, e in periods:
            self.max_end.append(max(e, self.max_end[-1]) if self.max_end else e)

    def overlaps(self, start: datetime, end: datetime) -> bool:
        before = bisect.bisect_left(self.starts, end)
        return before > 0 and self.max_end[before - 1] > start


@dataclass
class _Batch:
    entries: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[EncodedEvent] = field(default_factory=list)
    usage: dict[UUID, Usage] = field(default_factory=dict)


async def _write(
    conn: Connection,
    runtime: Runtime,
    identity: Identity,
    stored: Sequence[tuple[_Resolved, str, str]],
    now: datetime,
) -> None:
    # Building a million rows is CPU work: in a thread, so the event loop stays responsive.
    batch = await asyncio.to_thread(_rows_of, identity.tenant_id, stored, now)
    await import_rows.copy_entries(conn, batch.entries)
    await copy_encoded(conn, batch.events)
    for project_id in sorted(batch.usage):
        await track_usage(
            conn,
            runtime,
            identity.tenant_id,
            project_id,
            batch.usage[project_id],
            entry_id=None,
            now=now,
        )


def _rows_of(tenant: UUID, stored: Sequence[tuple[_Resolved, str, str]], now: datetime) -> _Batch:
    tenant_text, occurred = str(tenant), utc_text(now)
    texts: dict[UUID, str] = {}
    batch = _Batch()
    entries, events = batch.entries, batch.events
    seconds_of: dict[UUID, int] = defaultdict(int)
    cost_of: dict[UUID, int] = defaultdict(int)
    unpriced_of: dict[UUID, int] = defaultdict(int)
    for r, entry_id, event_id in stored:
        row = r.row
        seconds = int((row.ended_at - row.started_at).total_seconds())
        cost = entry_cost(seconds, r.member, r.project.currency)
        billable = r.project.billable_by_default if row.billable is None else row.billable
        member = texts.get(r.member_id) or texts.setdefault(r.member_id, str(r.member_id))
        project = texts.get(r.project_id) or texts.setdefault(r.project_id, str(r.project_id))
        entries.append(
            (
                tenant, entry_id, member, project, row.task, row.description, row.started_at,
                row.ended_at, billable, list(row.tags), 1, now, now, None, None, cost,
            )
        )  # fmt: skip
        value = time_entry_event_json(
            event_type="time_entry.logged",
            event_id=event_id,
            occurred_at=occurred,
            tenant_id=tenant_text,
            producer=PRODUCER,
            entry_id=entry_id,
            version=1,
            member_id=member,
            project_id=project,
            task=row.task,
            description=row.description,
            started_at=row.started_at,
            ended_at=row.ended_at,
            billable=billable,
            tags=row.tags,
        )
        events.append(
            EncodedEvent(event_id, "time_entry.logged", 1, TOPIC, entry_id.encode(), value)
        )
        seconds_of[r.project_id] += seconds
        if cost is None:
            unpriced_of[r.project_id] += seconds
        else:
            cost_of[r.project_id] += cost
    for project_id, seconds in seconds_of.items():
        batch.usage[project_id] = Usage(seconds, cost_of[project_id], unpriced_of[project_id])
    return batch
