"""Import rows: parsing of every documented column form, and the in-batch overlap rule."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from timecapture.domain.imports import (
    ImportRow,
    RowError,
    UnreadableCsv,
    csv_records,
    overlapping_in_batch,
    validate_rows,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
MEMBER = uuid.UUID(int=1)


def one(raw: dict[str, object], zone: ZoneInfo = BERLIN) -> ImportRow | RowError:
    valid, errors = validate_rows([raw], zone, NOW)
    return valid[0] if valid else errors[0]


BASE = {"email": "Ada@Example.com", "project_code": "WEB", "start_date": "2026-05-04"}


@pytest.mark.parametrize(
    ("extra", "minutes"),
    [
        ({"start_time": "09:00", "end_date": "2026-05-04", "end_time": "10:15"}, 75),
        ({"start_time": "09:00", "duration": "1:15"}, 75),
        ({"start_time": "09:00", "duration": "1:15:30"}, 75.5),
        ({"start_time": "09:00", "hours": "1.25"}, 75),
        ({"start_time": "23:30", "end_date": "2026-05-05", "end_time": "00:30"}, 60),
    ],
)
def test_end_forms_give_the_same_length(extra: dict[str, str], minutes: float) -> None:
    row = one({**BASE, **extra})
    assert isinstance(row, ImportRow)
    assert row.ended_at - row.started_at == timedelta(minutes=minutes)
    # Stored in UTC; 4 May is CEST (UTC+2).
    assert row.started_at.utcoffset() == timedelta(0)
    assert row.started_at.astimezone(BERLIN).strftime("%H:%M") == extra["start_time"]


def test_references_are_ids_or_lowercased_email_and_codes() -> None:
    row = one({**BASE, "start_time": "09:00", "duration": "0:30"})
    assert isinstance(row, ImportRow)
    assert (row.member, row.project) == ("ada@example.com", "WEB")
    by_id = one(
        {
            "member_id": str(MEMBER),
            "project_id": str(uuid.UUID(int=2)),
            "started_at": "2026-05-04T09:00:00Z",
            "duration_minutes": 30,
        }
    )
    assert isinstance(by_id, ImportRow)
    assert (by_id.member, by_id.project) == (MEMBER, uuid.UUID(int=2))


@pytest.mark.parametrize(
    ("word", "billable"), [("Yes", True), ("y", True), ("1", True), ("NO", False), ("", None)]
)
def test_billable_words(word: str, billable: bool | None) -> None:
    row = one({**BASE, "start_time": "09:00", "duration": "0:30", "billable": word})
    assert isinstance(row, ImportRow)
    assert row.billable is billable


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"start_time": "09:00"}, "ended_at"),
        ({"start_time": "10:00", "end_date": "2026-05-04", "end_time": "09:00"}, "ended_at"),
        ({"start_time": "09:00", "duration": "25:00"}, "ended_at"),
        ({"start_time": "09:00", "duration": "abc"}, "duration"),
        ({"start_time": "9 am", "duration": "1:00"}, "start_time"),
        ({"start_time": "09:00", "duration": "1:00", "billable": "maybe"}, "billable"),
        ({"start_time": "09:00", "duration": "1:00", "member_id": "x"}, "member_id"),
        ({"start_time": "09:00", "duration": "1:00", "tags": ",".join("t" * 21)}, "tags"),
        (
            {
                "start_time": "09:00",
                "duration": "1:00",
                "end_date": "2026-05-04",
                "end_time": "11:00",
            },
            "duration",
        ),
        ({"start_date": "2027-01-01", "start_time": "09:00", "duration": "1:00"}, "ended_at"),
        (
            {"started_at": "2026-05-04T09:00:00Z", "ended_at": "2026-05-04T09:00:00.5Z"},
            "ended_at",
        ),
        ({"start_time": "09:00", "hours": "1e999999"}, "hours"),
        ({"start_time": "09:00", "hours": "-1e999999"}, "hours"),
        ({"start_time": "09:00", "hours": "1e999990"}, "hours"),
        ({"start_time": "09:00", "duration": "\u00b2:00"}, "duration"),
        ({"start_time": "09:00", "duration": "9" * 5000 + ":00"}, "duration"),
    ],
    ids=[
        "no-end",
        "end-before-start",
        "over-a-day",
        "bad-duration",
        "bad-time",
        "bad-billable",
        "bad-id",
        "too-many-tags",
        "end-and-duration-disagree",
        "future",
        "under-a-second",
        "hours-overflowing-decimal",
        "negative-hours-overflowing-decimal",
        "hours-too-many-digits-for-int",
        "superscript-digit",
        "digits-beyond-int-limit",
    ],
)
def test_bad_rows_name_the_field(extra: dict[str, str], field: str) -> None:
    error = one({**BASE, **extra})
    assert isinstance(error, RowError)
    assert (error.row, error.field) == (1, field)


def test_csv_headers_are_normalised_and_blank_lines_skipped() -> None:
    text = (
        "Email,Project Code,Start-Date,Start Time,Duration\r\n"
        "a@b.c,WEB,2026-05-04,09:00,0:45\r\n\r\n"
    )
    records = list(csv_records(text))
    assert records == [
        {
            "email": "a@b.c",
            "project_code": "WEB",
            "start_date": "2026-05-04",
            "start_time": "09:00",
            "duration": "0:45",
        }
    ]


def test_csv_field_over_the_reader_limit_is_unreadable_naming_the_line() -> None:
    text = "email,description\r\na@b.c,short\r\na@b.c," + "x" * 200_000 + "\r\n"
    with pytest.raises(UnreadableCsv, match="line 3: field larger than field limit"):
        list(csv_records(text))


def test_short_csv_line_is_a_row_error() -> None:
    valid, errors = validate_rows(csv_records("email,duration\r\nx\r\n"), BERLIN, NOW)
    assert valid == []
    assert [(e.row, e.field) for e in errors] == [(1, "row")]


def test_formula_guard_of_an_export_is_removed() -> None:
    row = one(
        {**BASE, "start_time": "09:00", "duration": "1:00", "description": "'=1+1", "tags": "'-x,y"}
    )
    assert isinstance(row, ImportRow)
    assert row.description == "=1+1"
    assert row.tags == ("-x", "y")


def test_rows_overlapping_an_earlier_row_of_the_member_are_refused() -> None:
    t = datetime(2026, 5, 4, 9, tzinfo=UTC)

    def r(n: int, start_h: float, end_h: float) -> ImportRow:
        return ImportRow(
            n,
            MEMBER,
            "P",
            t + timedelta(hours=start_h),
            t + timedelta(hours=end_h),
            None,
            None,
            "",
            (),
        )

    rows = [r(1, 0, 2), r(2, 1, 3), r(3, 2, 4), r(4, 3.5, 5), r(5, 10, 11)]
    other = uuid.UUID(int=9)
    member_of = {1: MEMBER, 2: MEMBER, 3: MEMBER, 4: MEMBER, 5: other}

    errors = overlapping_in_batch(rows, member_of)

    assert [(e.row, e.detail) for e in errors] == [(2, "overlaps row 1"), (4, "overlaps row 3")]


def test_local_times_across_a_dst_change_keep_their_real_length() -> None:
    # Europe/Berlin springs forward at 02:00 on 31 March 2024: 01:00-04:00 lasts two hours.
    row = one(
        {
            **BASE,
            "start_date": "2024-03-31",
            "start_time": "01:00",
            "end_date": "2024-03-31",
            "end_time": "04:00",
        }
    )
    assert isinstance(row, ImportRow)
    assert row.ended_at - row.started_at == timedelta(hours=2)
    assert row.started_at == datetime(2024, 3, 31, 0, 0, tzinfo=UTC)
    by_duration = one(
        {**BASE, "start_date": "2024-03-31", "start_time": "01:00", "duration": "3:00"}
    )
    assert isinstance(by_duration, ImportRow)
    assert by_duration.ended_at == datetime(2024, 3, 31, 3, 0, tzinfo=UTC)  # 05:00 local


@pytest.mark.parametrize(
    ("start", "end_time", "detail"),
    [("02:30", "03:10", "does not exist"), ("02:30", "04:00", "does not exist")],
)
def test_skipped_local_times_are_refused(start: str, end_time: str, detail: str) -> None:
    error = one(
        {
            **BASE,
            "start_date": "2024-03-31",
            "start_time": start,
            "end_date": "2024-03-31",
            "end_time": end_time,
        }
    )
    assert isinstance(error, RowError)
    assert detail in error.detail


def test_repeated_local_times_are_refused_as_ambiguous() -> None:
    # Autumn: 02:00-03:00 happens twice in Berlin on 27 October 2024.
    error = one({**BASE, "start_date": "2024-10-27", "start_time": "02:30", "duration": "0:10"})
    assert isinstance(error, RowError)
    assert "ambiguous" in error.detail


@pytest.mark.parametrize(
    "extra",
    [
        {"start_time": "09:00", "duration": "1:00", "description": "a\x00b"},
        {"start_time": "09:00", "duration": "99999999999:00"},
        {"start_date": "9999-12-31", "start_time": "23:00", "duration": "5:00"},
        {"start_date": "0001-01-01", "start_time": "00:00", "duration": "1:00"},
    ],
    ids=["nul", "huge-duration", "year-9999", "year-1"],
)
def test_unstorable_rows_are_row_errors(extra: dict[str, str]) -> None:
    assert isinstance(one({**BASE, **extra}), RowError)
