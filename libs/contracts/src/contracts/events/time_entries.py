"""Payload of `time_entry.logged`, `time_entry.revised` and `time_entry.deleted`."""

from __future__ import annotations

from typing import Self
from uuid import UUID

from pydantic import AwareDatetime, Field, model_validator

from contracts.events.base import ContractModel

__all__ = ["TimeEntryState"]


class TimeEntryState(ContractModel):
    """Full state of a time entry after the change; `deleted` carries the state at deletion."""

    entry_id: UUID = Field(description="The time entry; message key on `time-entry-logged`.")
    version: int = Field(
        ge=1, description="Revision number, 1 when logged and +1 on every revision or deletion."
    )
    member_id: UUID = Field(description="Member who did the work.")
    project_id: UUID = Field(description="Project the time is logged against.")
    task: str | None = Field(default=None, description="Task name within the project, if any.")
    description: str = Field(default="", max_length=2000, description="What was done.")
    started_at: AwareDatetime = Field(description="Start of the work, with its UTC offset.")
    ended_at: AwareDatetime = Field(description="End of the work, after `started_at`.")
    duration_seconds: int = Field(gt=0, description="Worked seconds, before any billing rounding.")
    billable: bool = Field(description="Whether the entry may be invoiced.")
    tags: list[str] = Field(default=[], description="Free-form labels.")

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        if self.ended_at <= self.started_at:
            raise ValueError("ended_at must be after started_at")
        return self
