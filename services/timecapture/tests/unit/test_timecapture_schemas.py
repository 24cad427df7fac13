"""`TimeEntryIn`: what HTTP accepts, and the command it becomes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from timecapture.api.time_entries import TimeEntryIn
from timecapture.domain.time_entries import LogTimeEntry

MEMBER_ID = uuid.uuid4()
PROJECT_ID = uuid.uuid4()
START = datetime(2025, 3, 14, 9, 0, tzinfo=UTC)


def body(**overrides: Any) -> dict[str, Any]:
    return {
        "member_id": str(MEMBER_ID),
        "project_id": str(PROJECT_ID),
        "started_at": START.isoformat(),
        **overrides,
    }


def test_end_becomes_the_commands_end() -> None:
    end = START + timedelta(hours=2)
    cmd = TimeEntryIn.model_validate(
        body(
            ended_at=end.isoformat(),
            billable=False,
            task="review",
            description="code review",
            tags=["a", "b"],
        )
    ).to_command()
    assert cmd == LogTimeEntry(
        member_id=MEMBER_ID,
        project_id=PROJECT_ID,
        started_at=START,
        ended_at=end,
        duration=None,
        billable=False,
        task="review",
        description="code review",
        tags=("a", "b"),
    )


def test_duration_minutes_become_a_timedelta() -> None:
    cmd = TimeEntryIn.model_validate(body(duration_minutes=75)).to_command()
    assert cmd.duration == timedelta(minutes=75)
    assert cmd.ended_at is None


def test_defaults_take_the_projects_billable_flag_without_task_description_or_tags() -> None:
    cmd = TimeEntryIn.model_validate(body(duration_minutes=1)).to_command()
    assert cmd.billable is None
    assert cmd.task is None
    assert cmd.description == ""
    assert cmd.tags == ()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"started_at": "2025-03-14T09:00:00", "duration_minutes": 5}, "started_at"),
        ({"ended_at": "2025-03-14T10:00:00"}, "ended_at"),
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"duration_minutes": 24 * 60 + 1}, "duration_minutes"),
        ({"duration_minutes": 5, "colour": "red"}, "colour"),
        ({"duration_minutes": 5, "member_id": "not-a-uuid"}, "member_id"),
        ({"duration_minutes": 5, "tags": [""]}, "tags"),
    ],
    ids=["naive-start", "naive-end", "zero", "over-a-day", "unknown", "bad-uuid", "empty-tag"],
)
def test_malformed_input_is_rejected(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TimeEntryIn.model_validate(body(**overrides))
    assert [e["loc"][0] for e in caught.value.errors()] == [field]
