"""Log, revise and delete time entries; lock and unlock them for invoices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from servicekit.db import Connection
from servicekit.identity import Identity
from servicekit.outbox import enqueue, outbox_row
from servicekit.service import Runtime
from servicekit.versioning import check_version
from timecapture.db import invoice_locks
from timecapture.db import time_entries as rows
from timecapture.domain.budgets import Usage, usage_of
from timecapture.domain.errors import TimeEntryNotFound, TimeEntryOverlaps
from timecapture.domain.time_entries import (
    LogTimeEntry,
    TimeEntry,
    check_acts_for,
    check_context,
    check_editable,
    check_times,
    deleted,
    end_of,
    new_time_entry,
    priced,
    revise_time_entry,
)
from timecapture.handlers.common import announce_crossings, track_usage, transaction
from timecapture.messaging.outgoing import time_entry_event
from timecapture.settings import TimecaptureSettings


async def log_time_entry(runtime: Runtime, identity: Identity, cmd: LogTimeEntry) -> TimeEntry:
    """Store the entry and its `time_entry.logged` event in one transaction."""
    now = runtime.clock()
    check_times(cmd.started_at, end_of(cmd.started_at, cmd.ended_at, cmd.duration), now)
    entry_id = runtime.new_id()

    async def write(conn: Connection) -> TimeEntry:
        return await log_in(conn, runtime, identity, cmd, entry_id=entry_id, now=now)

    return await transaction(runtime, identity, write)


async def log_in(
    conn: Connection,
    runtime: Runtime,
    identity: Identity,
    cmd: LogTimeEntry,
    *,
    entry_id: UUID,
    now: datetime,
) -> TimeEntry:
    """Log an entry inside the caller's transaction (timers stop through here too)."""
    ctx = await rows.context(conn, cmd.member_id, cmd.project_id, identity.principal)
    project = check_context(ctx, identity, cmd.member_id)
    assert ctx.member is not None
    entry = new_time_entry(
        cmd,
        entry_id=entry_id,
        tenant_id=identity.tenant_id,
        now=now,
        project=project,
        member=ctx.member,
    )
    settings = runtime.settings
    assert isinstance(settings, TimecaptureSettings)
    event = time_entry_event("time_entry.logged", entry, event_id=runtime.new_id(), occurred_at=now)
    delta = usage_of(entry.duration_seconds, entry.cost_minor)
    change = await rows.log(
        conn, entry, delta, outbox_row(event), reject_overlaps=settings.reject_overlapping_entries
    )
    if change is None:
        # Ids are fixed before the first attempt: after a lost COMMIT the row is there, and
        # nothing is written or published twice. Otherwise the entry overlaps another.
        if not await rows.exists(conn, entry.id):
            await _check_overlap(conn, runtime, entry)
            raise AssertionError(f"entry {entry.id} neither stored nor overlapping")
        return entry
    await announce_crossings(
        conn,
        runtime,
        entry.tenant_id,
        entry.project_id,
        change,
        entry_id=entry.id,
        now=now,
        check_all=False,
    )
    return entry


async def revise(
    runtime: Runtime,
    identity: Identity,
    entry_id: UUID,
    changes: Mapping[str, Any],
    *,
    duration: timedelta | None,
    if_match: str | None,
) -> TimeEntry:
    """Apply a partial change at the version the caller read; publish `time_entry.revised`."""
    now = runtime.clock()

    async def write(conn: Connection) -> TimeEntry:
        entry = await _editable(conn, identity, entry_id, if_match)
        new = revise_time_entry(entry, changes, duration=duration, now=now)
        if new is entry:
            return entry
        ctx = await rows.context(conn, new.member_id, new.project_id, identity.principal)
        project = check_context(ctx, identity, new.member_id)
        assert ctx.member is not None
        new = priced(new, ctx.member, project.currency)
        if (new.member_id, new.started_at, new.ended_at) != (
            entry.member_id,
            entry.started_at,
            entry.ended_at,
        ):
            await _check_overlap(conn, runtime, new)
        await rows.update(conn, new)
        await _move_usage(conn, runtime, entry, new, now)
        await enqueue(
            conn,
            time_entry_event("time_entry.revised", new, event_id=runtime.new_id(), occurred_at=now),
        )
        return new

    return await transaction(runtime, identity, write)


async def delete(
    runtime: Runtime, identity: Identity, entry_id: UUID, *, if_match: str | None
) -> None:
    """Soft-delete the entry (its id stays reserved) and publish `time_entry.deleted`."""
    now = runtime.clock()

    async def write(conn: Connection) -> None:
        entry = await _editable(conn, identity, entry_id, if_match)
        gone = deleted(entry, now)
        await rows.update(conn, gone)
        await _move_usage(conn, runtime, entry, None, now)
        await enqueue(
            conn,
            time_entry_event(
                "time_entry.deleted", gone, event_id=runtime.new_id(), occurred_at=now
            ),
        )

    await transaction(runtime, identity, write)


async def lock_for_invoice(
    conn: Connection, invoice_id: UUID, entry_ids: list[UUID], issued_at: datetime
) -> None:
    """Entries on an issued invoice can no longer change, unless the void came first."""

    if await invoice_locks.record_issued(conn, invoice_id, issued_at):
        await rows.lock_for_invoice(conn, invoice_id, entry_ids)


async def lock_for_invoices(
    conn: Connection, issued: Sequence[tuple[UUID, list[UUID], datetime]]
) -> None:
    """`lock_for_invoice` for each, in two round trips for all of them (a consumer batch)."""
    latest = {invoice_id: (entry_ids, at) for invoice_id, entry_ids, at in issued}
    voided = await invoice_locks.record_issued_many(
        conn, {invoice_id: at for invoice_id, (_, at) in latest.items()}
    )
    await rows.lock_for_invoices(
        conn, {i: entry_ids for i, (entry_ids, _) in latest.items() if i not in voided}
    )


async def unlock_for_invoice(conn: Connection, invoice_id: UUID, voided_at: datetime) -> None:

    await invoice_locks.record_voided(conn, invoice_id, voided_at)
    await rows.unlock_for_invoice(conn, invoice_id)


async def _editable(
    conn: Connection, identity: Identity, entry_id: UUID, if_match: str | None
) -> TimeEntry:
    entry = await rows.get(conn, entry_id, lock=True)
    if entry is None:
        raise TimeEntryNotFound(f"no time entry {entry_id}")
    # Who may act first: a caller who may not edit the entry learns neither its version nor
    # the invoice it is on.
    if identity.role not in ("admin", "manager"):
        ctx = await rows.context(conn, entry.member_id, entry.project_id, identity.principal)
        managers = ctx.project.manager_ids if ctx.project else ()
        check_acts_for(identity, ctx.caller_member_id, entry.member_id, managers)
    check_version(if_match, entry.version)
    check_editable(entry)
    return entry


async def _check_overlap(conn: Connection, runtime: Runtime, entry: TimeEntry) -> None:
    settings = runtime.settings
    assert isinstance(settings, TimecaptureSettings)
    if not settings.reject_overlapping_entries:
        return
    other = await rows.overlapping(
        conn, entry.member_id, entry.id, entry.started_at, entry.ended_at
    )
    if other is not None:
        raise TimeEntryOverlaps(
            f"the member already logged time entry {other} in this period",
            errors=[{"pointer": "#/started_at", "detail": f"overlaps time entry {other}"}],
            overlapping_entry_id=str(other),
        )


async def _move_usage(
    conn: Connection, runtime: Runtime, old: TimeEntry, new: TimeEntry | None, now: datetime
) -> None:
    deltas = {old.project_id: -usage_of(old.duration_seconds, old.cost_minor)}
    if new is not None:
        after = usage_of(new.duration_seconds, new.cost_minor)
        deltas[new.project_id] = deltas.get(new.project_id, Usage()) + after
    # Project order, so two moves in opposite directions cannot deadlock on the usage rows.
    for project_id in sorted(deltas):
        entry_id = (new or old).id
        await track_usage(
            conn, runtime, old.tenant_id, project_id, deltas[project_id], entry_id=entry_id, now=now
        )
