"""Start, stop and discard timers; stopping logs the entry in the same transaction."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from uuid import UUID

from servicekit.db import Connection
from servicekit.identity import Identity
from servicekit.service import Runtime
from timecapture.db import time_entries as entry_rows
from timecapture.db import timers as rows
from timecapture.domain.errors import TimerAlreadyRunning, TimerNotFound, TimerStopped
from timecapture.domain.time_entries import TimeEntry, check_acts_for, check_context
from timecapture.domain.timers import Timer, entry_of
from timecapture.handlers.common import transaction
from timecapture.handlers.time_entries import log_in


@dataclass(frozen=True, slots=True)
class StartTimer:
    member_id: UUID
    project_id: UUID
    task: str | None
    description: str
    billable: bool | None
    tags: tuple[str, ...]


async def start_timer(runtime: Runtime, identity: Identity, cmd: StartTimer) -> Timer:
    now = runtime.clock()
    timer = Timer(
        tenant_id=identity.tenant_id,
        id=runtime.new_id(),
        member_id=cmd.member_id,
        project_id=cmd.project_id,
        task=cmd.task,
        description=cmd.description,
        billable=cmd.billable,
        tags=cmd.tags,
        started_at=now,
    )

    async def write(conn: Connection) -> Timer:
        # Locks the member row, so two starts for one member queue and the second sees the first.
        ctx = await entry_rows.context(conn, cmd.member_id, cmd.project_id, identity.principal)
        check_context(ctx, identity, cmd.member_id)
        running = await rows.running_of(conn, cmd.member_id)
        if running is not None and running != timer.id:
            raise TimerAlreadyRunning(
                f"member {cmd.member_id} already has timer {running} running; stop it first",
                running_timer_id=str(running),
            )
        await rows.insert(conn, timer)
        return timer

    return await transaction(runtime, identity, write)


async def stop_timer(
    runtime: Runtime, identity: Identity, timer_id: UUID
) -> tuple[Timer, TimeEntry]:
    now = runtime.clock()
    entry_id = runtime.new_id()

    async def write(conn: Connection) -> tuple[Timer, TimeEntry]:
        timer = await _own(conn, identity, timer_id)
        entry = await log_in(
            conn, runtime, identity, entry_of(timer, now), entry_id=entry_id, now=now
        )
        await rows.mark_stopped(conn, timer.id, entry.ended_at, entry.id)
        stopped = dataclasses.replace(timer, stopped_at=entry.ended_at, time_entry_id=entry.id)
        return stopped, entry

    return await transaction(runtime, identity, write)


async def discard_timer(runtime: Runtime, identity: Identity, timer_id: UUID) -> None:
    async def write(conn: Connection) -> None:
        timer = await _own(conn, identity, timer_id)
        if not timer.running:
            raise TimerStopped(f"timer {timer_id} already stopped; delete its time entry instead")
        await rows.delete(conn, timer_id)

    await transaction(runtime, identity, write)


async def _own(conn: Connection, identity: Identity, timer_id: UUID) -> Timer:
    timer = await rows.get(conn, timer_id, lock=True)
    if timer is None:
        raise TimerNotFound(f"no timer {timer_id}")
    if identity.role not in ("admin", "manager"):
        ctx = await entry_rows.context(conn, timer.member_id, timer.project_id, identity.principal)
        managers = ctx.project.manager_ids if ctx.project else ()
        check_acts_for(identity, ctx.caller_member_id, timer.member_id, managers)
    return timer
