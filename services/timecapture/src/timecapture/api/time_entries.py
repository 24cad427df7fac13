"""`/v1/time-entries` routes and their HTTP schemas."""

from __future__ import annotations

from datetime import timedelta
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
    changes_of,
    versioned,
)
from servicekit.db import tenant_transaction
from servicekit.pagination import Page, SortColumn
from servicekit.versioning import IfMatch
from timecapture.db import time_entries as entry_rows
from timecapture.domain.errors import TimeEntryNotFound
from timecapture.domain.time_entries import LogTimeEntry, TimeEntry
from timecapture.handlers import time_entries as handlers

router = APIRouter(prefix="/v1/time-entries", tags=["time entries"])

SORTS = {**lists.CREATED, "started_at": SortColumn("started_at", "timestamptz")}
# No commas: CSV imports and exports keep a row's tags comma-separated in one cell.
Tags = list[Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[^,]*$")]]
Minutes = Annotated[int, Field(gt=0, le=24 * 60)]


class TimeEntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_id: UUID = Field(description="Member who did the work.")
    project_id: UUID = Field(description="Project the time is logged against.")
    started_at: AwareDatetime = Field(description="Start, with a UTC offset.")
    ended_at: AwareDatetime | None = Field(None, description="End; or give duration_minutes.")
    duration_minutes: Minutes | None = Field(None, description="Length; or give ended_at.")
    billable: bool | None = Field(
        None, description="Whether the entry may be invoiced; the project's default if omitted."
    )
    task: str | None = Field(None, max_length=200, description="Task label within the project.")
    description: str = Field("", max_length=2000, description="What was done.")
    tags: Tags = Field(default_factory=list, max_length=20, description="Free-form labels.")

    def to_command(self) -> LogTimeEntry:
        return LogTimeEntry(
            member_id=self.member_id,
            project_id=self.project_id,
            started_at=self.started_at,
            ended_at=self.ended_at,
            duration=timedelta(minutes=self.duration_minutes) if self.duration_minutes else None,
            billable=self.billable,
            task=self.task,
            description=self.description,
            tags=tuple(self.tags),
        )


class TimeEntryPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_id: UUID | None = None
    project_id: UUID | None = None
    started_at: AwareDatetime | None = None
    ended_at: AwareDatetime | None = None
    duration_minutes: Minutes | None = Field(None, description="New length from the start.")
    billable: bool | None = None
    task: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=2000)
    tags: Tags | None = Field(None, max_length=20)


NOT_NULL = {"member_id", "project_id", "started_at", "ended_at", "billable", "description", "tags"}


class TimeEntryOut(BaseModel):
    id: UUID
    member_id: UUID
    project_id: UUID
    started_at: AwareDatetime
    ended_at: AwareDatetime
    duration_seconds: int
    billable: bool
    task: str | None
    description: str
    tags: list[str]
    invoice_id: UUID | None = Field(description="Issued invoice the entry is on; locked if set.")
    cost_minor: int | None = Field(description="Cost at the member's rate; null if unpriced.")
    version: int
    created_at: AwareDatetime
    updated_at: AwareDatetime

    @classmethod
    def of(cls, e: TimeEntry) -> TimeEntryOut:
        return cls(
            id=e.id,
            member_id=e.member_id,
            project_id=e.project_id,
            started_at=e.started_at,
            ended_at=e.ended_at,
            duration_seconds=e.duration_seconds,
            billable=e.billable,
            task=e.task,
            description=e.description,
            tags=list(e.tags),
            invoice_id=e.invoice_id,
            cost_minor=e.cost_minor,
            version=e.version,
            created_at=e.created_at,
            updated_at=e.updated_at,
        )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TimeEntryOut)
async def create_time_entry(
    body: TimeEntryIn, response: Response, runtime: RuntimeDep, identity: Writer
) -> TimeEntryOut:
    entry = await handlers.log_time_entry(runtime, identity, body.to_command())
    versioned(response, entry.version, f"/v1/time-entries/{entry.id}")
    return TimeEntryOut.of(entry)


@router.get("", response_model=Page[TimeEntryOut])
async def list_time_entries(
    runtime: RuntimeDep,
    identity: Reader,
    member_id: Annotated[UUID | None, Query()] = None,
    project_id: Annotated[UUID | None, Query()] = None,
    client_id: Annotated[UUID | None, Query()] = None,
    billable: Annotated[bool | None, Query()] = None,
    invoiced: Annotated[bool | None, Query(description="On an issued invoice or not.")] = None,
    started_from: Annotated[
        AwareDatetime | None, Query(alias="from", description="Started at or after.")
    ] = None,
    started_to: Annotated[
        AwareDatetime | None, Query(alias="to", description="Started before.")
    ] = None,
    tag: Annotated[str | None, Query(max_length=50, description="Carries this tag.")] = None,
    sort: SortParam = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
) -> Page[TimeEntryOut]:
    query = lists.query_of("time_entries", TimeEntry)
    query.filter("deleted_at IS NULL")
    lists.equals(query, "member_id", member_id)
    lists.equals(query, "project_id", project_id)
    lists.equals(query, "billable", billable)
    if client_id is not None:
        query.filter(
            f"project_id IN (SELECT id FROM projects WHERE client_id = {query.param(client_id)})"
        )
    if invoiced is not None:
        query.filter("invoice_id IS NOT NULL" if invoiced else "invoice_id IS NULL")
    if started_from is not None:
        query.filter(f"started_at >= {query.param(started_from)}")
    if started_to is not None:
        query.filter(f"started_at < {query.param(started_to)}")
    if tag is not None:
        query.filter(f"tags @> ARRAY[{query.param(tag)}::text]")
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        found = await lists.page(
            conn,
            query,
            TimeEntry,
            sort=sort,
            allowed=SORTS,
            default_sort="-started_at",
            cursor=cursor,
            limit=limit,
        )
    return found.map(TimeEntryOut.of)


@router.get("/{entry_id}", response_model=TimeEntryOut)
async def get_time_entry(
    entry_id: UUID, response: Response, runtime: RuntimeDep, identity: Reader
) -> TimeEntryOut:
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        entry = await entry_rows.get(conn, entry_id)
    if entry is None:
        raise TimeEntryNotFound(f"no time entry {entry_id}")
    versioned(response, entry.version)
    return TimeEntryOut.of(entry)


@router.patch("/{entry_id}", response_model=TimeEntryOut)
async def revise_time_entry(
    entry_id: UUID,
    body: TimeEntryPatch,
    response: Response,
    runtime: RuntimeDep,
    identity: Writer,
    if_match: IfMatch = None,
) -> TimeEntryOut:
    """Partial change at the version named by If-Match; 409 once the entry is invoiced."""
    changes = changes_of(body, NOT_NULL)
    minutes = changes.pop("duration_minutes", None)
    entry = await handlers.revise(
        runtime,
        identity,
        entry_id,
        changes,
        duration=None if minutes is None else timedelta(minutes=minutes),
        if_match=if_match,
    )
    versioned(response, entry.version)
    return TimeEntryOut.of(entry)


@router.delete("/{entry_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_time_entry(
    entry_id: UUID, runtime: RuntimeDep, identity: Writer, if_match: IfMatch = None
) -> Response:
    """Deletes at the version named by If-Match; 409 once the entry is invoiced."""
    await handlers.delete(runtime, identity, entry_id, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
