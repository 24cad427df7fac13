"""`/v1/timers` routes: start, list, stop (logs the entry) and discard."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from servicekit import lists
from servicekit.api import (
    DEFAULT_PAGE,
    Cursor,
    Limit,
    Reader,
    RuntimeDep,
    SortParam,
    Writer,
)
from servicekit.db import tenant_transaction
from servicekit.pagination import Page, SortColumn
from timecapture.api.time_entries import Tags, TimeEntryOut
from timecapture.db import timers as timer_rows
from timecapture.domain.errors import TimerNotFound
from timecapture.domain.timers import Timer
from timecapture.handlers import timers as handlers

router = APIRouter(prefix="/v1/timers", tags=["timers"])

SORTS = {"started_at": SortColumn("started_at", "timestamptz")}


class TimerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_id: UUID = Field(description="Member whose time runs; one running timer each.")
    project_id: UUID
    task: str | None = Field(None, max_length=200)
    description: str = Field("", max_length=2000)
    billable: bool | None = Field(None, description="The project's default if omitted.")
    tags: Tags = Field(default_factory=list, max_length=20)


class TimerOut(BaseModel):
    id: UUID
    member_id: UUID
    project_id: UUID
    task: str | None
    description: str
    billable: bool | None
    tags: list[str]
    started_at: AwareDatetime
    stopped_at: AwareDatetime | None
    running: bool
    time_entry_id: UUID | None = Field(description="Entry logged when the timer stopped.")

    @classmethod
    def of(cls, t: Timer) -> TimerOut:
        return cls(
            id=t.id,
            member_id=t.member_id,
            project_id=t.project_id,
            task=t.task,
            description=t.description,
            billable=t.billable,
            tags=list(t.tags),
            started_at=t.started_at,
            stopped_at=t.stopped_at,
            running=t.running,
            time_entry_id=t.time_entry_id,
        )


class StoppedTimer(BaseModel):
    timer: TimerOut
    time_entry: TimeEntryOut


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TimerOut)
async def start_timer(
    body: TimerIn, response: Response, runtime: RuntimeDep, identity: Writer
) -> TimerOut:
    """Starts now; 409 if the member already has a running timer."""
    cmd = handlers.StartTimer(
        member_id=body.member_id,
        project_id=body.project_id,
        task=body.task,
        description=body.description,
        billable=body.billable,
        tags=tuple(body.tags),
    )
    timer = await handlers.start_timer(runtime, identity, cmd)
    response.headers["Location"] = f"/v1/timers/{timer.id}"
    return TimerOut.of(timer)


@router.get("", response_model=Page[TimerOut])
async def list_timers(
    runtime: RuntimeDep,
    identity: Reader,
    member_id: Annotated[UUID | None, Query()] = None,
    running: Annotated[bool | None, Query()] = None,
    sort: SortParam = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
) -> Page[TimerOut]:
    query = lists.query_of("timers", Timer)
    lists.equals(query, "member_id", member_id)
    if running is not None:
        query.filter("stopped_at IS NULL" if running else "stopped_at IS NOT NULL")
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        found = await lists.page(
            conn,
            query,
            Timer,
            sort=sort,
            allowed=SORTS,
            default_sort="-started_at",
            cursor=cursor,
            limit=limit,
        )
    return found.map(TimerOut.of)


@router.get("/{timer_id}", response_model=TimerOut)
async def get_timer(timer_id: UUID, runtime: RuntimeDep, identity: Reader) -> TimerOut:
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        timer = await timer_rows.get(conn, timer_id)
    if timer is None:
        raise TimerNotFound(f"no timer {timer_id}")
    return TimerOut.of(timer)


@router.post("/{timer_id}/stop", response_model=StoppedTimer)
async def stop_timer(timer_id: UUID, runtime: RuntimeDep, identity: Writer) -> StoppedTimer:
    """Stops now and logs the time entry (time entry rules apply: at most 24 h)."""
    timer, entry = await handlers.stop_timer(runtime, identity, timer_id)
    return StoppedTimer(timer=TimerOut.of(timer), time_entry=TimeEntryOut.of(entry))


@router.delete("/{timer_id}", status_code=status.HTTP_204_NO_CONTENT)
async def discard_timer(timer_id: UUID, runtime: RuntimeDep, identity: Writer) -> Response:
    """Throws a running timer away without logging time."""
    await handlers.discard_timer(runtime, identity, timer_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
