"""`/v1/time-entries` routes and their HTTP schemas."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from servicekit.db import tenant_transaction
from servicekit.identity import Identity, require_identity
from servicekit.service import Runtime, get_runtime
from timecapture import handlers, views
from timecapture.domain.time_entries import LogTimeEntry, TimeEntry

router = APIRouter(prefix="/v1/time-entries", tags=["time entries"])


class TimeEntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_id: UUID = Field(description="Member who did the work.")
    project_id: UUID = Field(description="Project the time is logged against.")
    started_at: AwareDatetime = Field(description="Start, with a UTC offset.")
    ended_at: AwareDatetime | None = Field(None, description="End; or give duration_minutes.")
    duration_minutes: int | None = Field(
        None, gt=0, le=24 * 60, description="Length in minutes; or give ended_at."
    )
    billable: bool = Field(True, description="Whether the entry may be invoiced.")
    task: str | None = Field(None, max_length=200, description="Task label within the project.")
    description: str = Field("", max_length=2000, description="What was done.")
    tags: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(
        default_factory=list, max_length=20, description="Free-form labels."
    )

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
            version=e.version,
            created_at=e.created_at,
            updated_at=e.updated_at,
        )


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
IdentityDep = Annotated[Identity, Depends(require_identity)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TimeEntryOut)
async def create_time_entry(
    body: TimeEntryIn, response: Response, runtime: RuntimeDep, identity: IdentityDep
) -> TimeEntryOut:
    entry = await handlers.log_time_entry(runtime, identity, body.to_command())
    response.headers["Location"] = f"/v1/time-entries/{entry.id}"
    response.headers["ETag"] = f'"{entry.version}"'
    return TimeEntryOut.of(entry)


@router.get("/{entry_id}", response_model=TimeEntryOut)
async def get_time_entry(
    entry_id: UUID, response: Response, runtime: RuntimeDep, identity: IdentityDep
) -> TimeEntryOut:
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        entry = await views.time_entry(conn, entry_id)
    response.headers["ETag"] = f'"{entry.version}"'
    return TimeEntryOut.of(entry)
