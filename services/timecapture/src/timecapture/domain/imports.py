"""Bulk import rows: parsing and per-row rules, without I/O.

CSV columns (header names are case-insensitive; spaces and dashes count as underscores, so
Toggl's "Start date" is `start_date`):

| column | meaning |
|---|---|
| `member_id` or `email` | the member (by id, or by their email in the tenant) |
| `project_id` or `project_code` | the project (by id, or by its code) |
| `start_date` + `start_time` | start in the import's timezone (`YYYY-MM-DD`, `HH:MM[:SS]`) |
| `end_date` + `end_time`, or `duration` | end, or length as `H:MM[:SS]` or decimal hours |
| `started_at` / `ended_at` | alternatively ISO 8601 instants with an offset |
| `billable` | yes/no, true/false, 1/0; empty: the project's default |
| `task`, `description`, `tags` | tags comma-separated inside one field |

JSON imports are an array of objects with the same names (or the `POST /v1/time-entries` body
fields: `started_at`, `ended_at` or `duration_minutes`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from timecapture.domain.errors import TimeEntryInvalid
from timecapture.domain.time_entries import EARLIEST, LATEST, MAX_DURATION, check_times

TRUE = frozenset({"yes", "y", "true", "t", "1"})
FALSE = frozenset({"no", "n", "false", "f", "0"})
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_SECOND = timedelta(seconds=1)
_MAX_HOURS = Decimal(MAX_DURATION // timedelta(hours=1))
# Far beyond any duration, well inside what int() parses (4300 digits).
_MAX_DIGITS = 100
MAX_TASK, MAX_DESCRIPTION, MAX_TAGS, MAX_TAG = 200, 2000, 20, 50


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One valid row; member and project are still references (id, or email / code)."""

    row: int
    member: UUID | str
    project: UUID | str
    started_at: datetime
    ended_at: datetime
    billable: bool | None
    task: str | None
    description: str
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    field: str
    detail: str


class _Bad(Exception):
    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail


def _key(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


class UnreadableCsv(ValueError):
    """The CSV reader gave up (a field over its size limit): nothing after it can be trusted,
    since a quoted field may span lines, so this is the whole body's fault, not one row's."""


def csv_records(text: str) -> Iterable[dict[str, str]]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
        if header is None:
            return
        names = [_key(h) for h in header]
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(names):
                yield {"__columns__": f"has {len(values)} fields, the header {len(names)}"}
                continue
            yield dict(zip(names, values, strict=True))
    except csv.Error as exc:
        raise UnreadableCsv(f"line {reader.line_num}: {exc}") from None


def _text(raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if not value:
        return None
    if type(value) is not str:
        raise _Bad(name, "must be a string")
    value = value.strip()
    if "\x00" in value:
        raise _Bad(name, "contains a NUL character")
    # Exports guard spreadsheet formulas with a leading apostrophe; take it off again.
    if value[:1] == "'":
        value = _unguarded(value)
    return value or None


def _ref(raw: Mapping[str, Any], id_name: str, alt_name: str) -> UUID | str:
    if (value := _text(raw, id_name)) is not None:
        try:
            return UUID(value)
        except ValueError:
            raise _Bad(id_name, "is not a UUID") from None
    if (alt := _text(raw, alt_name)) is not None:
        return alt.lower() if alt_name == "email" else alt
    raise _Bad(id_name, f"give {id_name} or {alt_name}")


def _instant(raw: Mapping[str, Any], name: str) -> datetime | None:
    value = _text(raw, name)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _Bad(name, "is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise _Bad(name, "must carry a UTC offset")
    return _utc(parsed, name)


def _utc(value: datetime, field: str) -> datetime:
    """Every later step works on UTC instants: durations are then real elapsed time, also
    across a daylight-saving change."""
    if not EARLIEST <= value <= LATEST:
        raise _Bad(field, f"must lie between {EARLIEST.year} and {LATEST.year}")
    return value.astimezone(UTC)


def _local(raw: Mapping[str, Any], prefix: str, zone: tzinfo) -> datetime | None:
    day, clock = _text(raw, f"{prefix}_date"), _text(raw, f"{prefix}_time")
    if day is None and clock is None:
        return None
    if day is None or clock is None:
        raise _Bad(f"{prefix}_date", f"give both {prefix}_date and {prefix}_time")
    try:
        parsed = datetime.fromisoformat(f"{day}T{clock}")
        if len(day) != 10 or parsed.tzinfo is not None:
            raise ValueError(day)
    except ValueError:
        raise _Bad(f"{prefix}_time", "is not YYYY-MM-DD and HH:MM[:SS]") from None
    local = parsed.replace(tzinfo=zone)
    instant = _utc(local, f"{prefix}_time")
    # A wall time skipped by a daylight-saving change does not come back from UTC unchanged;
    # one repeated by it has two instants. Both are refused rather than guessed.
    if instant.astimezone(zone).replace(tzinfo=None) != parsed:
        raise _Bad(f"{prefix}_time", f"does not exist in {zone} (clocks skip it)")
    if local.utcoffset() != local.replace(fold=1).utcoffset():
        raise _Bad(f"{prefix}_time", f"is ambiguous in {zone}; give started_at with an offset")
    return instant


def _unguarded(value: str) -> str:
    return value[1:] if value[:1] == "'" and value[1:2] in (*FORMULA_STARTS, "'") else value


def _duration(raw: Mapping[str, Any]) -> timedelta | None:
    minutes = raw.get("duration_minutes")
    if minutes is not None and minutes != "":
        if isinstance(minutes, bool) or not isinstance(minutes, int | str):
            raise _Bad("duration_minutes", "must be a whole number of minutes")
        try:
            return timedelta(minutes=int(minutes))
        except ValueError:
            raise _Bad("duration_minutes", "must be a whole number of minutes") from None
    value = _text(raw, "duration") or _text(raw, "hours")
    if value is None:
        return None
    field = "duration" if raw.get("duration") else "hours"
    if ":" in value:
        parts = value.split(":")
        # isdigit() alone lets through digits int() refuses ("²"); int() refuses over 4300.
        if len(parts) not in (2, 3) or not all(
            p.isascii() and p.isdigit() and len(p) <= _MAX_DIGITS for p in parts
        ):
            raise _Bad(field, "is not H:MM or H:MM:SS")
        h, m, s = (int(p) for p in [*parts, "0"][:3])
        return timedelta(hours=h, minutes=m, seconds=s)
    try:
        hours = Decimal(value)
    except InvalidOperation:
        raise _Bad(field, "is not H:MM[:SS] or decimal hours") from None
    if not hours.is_finite():
        raise _Bad(field, "is not a finite number of hours")
    # Bounded before it is multiplied out: 1e999999 hours overflows the decimal context, and
    # 1e999990 would take half a minute of CPU to become an int.
    if abs(hours) > _MAX_HOURS:
        raise _Bad(field, "an entry spans at most 24 hours")
    return timedelta(seconds=int((hours * 3600).to_integral_value()))


def _billable(raw: Mapping[str, Any]) -> bool | None:
    value = raw.get("billable")
    if value is None or isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise _Bad("billable", "must be yes/no or true/false")
    word = value.strip().lower()
    if not word:
        return None
    if word in TRUE:
        return True
    if word in FALSE:
        return False
    raise _Bad("billable", "must be yes/no or true/false")


def _tags(raw: Mapping[str, Any]) -> tuple[str, ...]:
    value = raw.get("tags")
    if value is None or value == "":
        return ()
    items = _unguarded(value).split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(t, str) for t in items):
        raise _Bad("tags", "must be a list of strings or a comma-separated string")
    tags = tuple(t.strip() for t in items if t.strip())
    if len(tags) > MAX_TAGS or any(len(t) > MAX_TAG for t in tags):
        raise _Bad("tags", f"at most {MAX_TAGS} tags of at most {MAX_TAG} characters")
    if any("," in t for t in tags):
        raise _Bad("tags", "a tag holds no comma (exports list tags comma-separated)")
    return tags


def _row(n: int, raw: Mapping[str, Any], zone: tzinfo, now: datetime) -> ImportRow:
    try:
        return _checked_row(n, raw, zone, now)
    except OverflowError:
        raise _Bad("duration", "is beyond the calendar") from None


def _checked_row(n: int, raw: Mapping[str, Any], zone: tzinfo, now: datetime) -> ImportRow:
    if "__columns__" in raw:
        raise _Bad("row", str(raw["__columns__"]))
    member = _ref(raw, "member_id", "email")
    project = _ref(raw, "project_id", "project_code")
    started_at = _instant(raw, "started_at") or _local(raw, "start", zone)
    if started_at is None:
        raise _Bad("start_date", "give started_at, or start_date and start_time")
    ended_at = _instant(raw, "ended_at") or _local(raw, "end", zone)
    duration = _duration(raw)
    if ended_at is None and duration is None:
        raise _Bad("ended_at", "give an end (ended_at, or end_date and end_time) or a duration")
    end = ended_at if ended_at is not None else started_at + (duration or timedelta())
    # An export carries both; they must agree (to the second, the precision of a duration).
    if (
        ended_at is not None
        and duration is not None
        and abs(end - started_at - duration) >= _SECOND
    ):
        raise _Bad("duration", "disagrees with the end")
    try:
        check_times(started_at, end, now)
    except TimeEntryInvalid as exc:
        raise _Bad(exc.field, exc.detail) from None
    task = _text(raw, "task")
    description = _text(raw, "description") or ""
    if task is not None and len(task) > MAX_TASK:
        raise _Bad("task", f"at most {MAX_TASK} characters")
    if len(description) > MAX_DESCRIPTION:
        raise _Bad("description", f"at most {MAX_DESCRIPTION} characters")
    return ImportRow(
        row=n,
        member=member,
        project=project,
        started_at=started_at,
        ended_at=end,
        billable=_billable(raw),
        task=task,
        description=description,
        tags=_tags(raw),
    )


def json_records(items: list[Any]) -> list[Any]:
    """JSON objects with their keys read like CSV headers."""
    return [
        {_key(str(k)): v for k, v in item.items()} if isinstance(item, dict) else item
        for item in items
    ]


def validate_rows(
    records: Iterable[Mapping[str, Any]], zone: tzinfo, now: datetime
) -> tuple[list[ImportRow], list[RowError]]:
    """Each record (keys as `csv_records` or `json_records` give them) checked on its own;
    rows are numbered from 1, the first after the header."""
    valid: list[ImportRow] = []
    errors: list[RowError] = []
    for n, raw in enumerate(records, start=1):
        if not isinstance(raw, Mapping):
            errors.append(RowError(n, "row", "must be an object"))
            continue
        try:
            valid.append(_row(n, raw, zone, now))
        except _Bad as bad:
            errors.append(RowError(n, bad.field, bad.detail))
    return valid, errors


def overlapping_in_batch(rows: list[ImportRow], member_of: Mapping[int, UUID]) -> list[RowError]:
    """Rows overlapping an earlier row of the same member in the same import."""
    ordered = sorted(
        (r for r in rows if r.row in member_of), key=lambda r: (member_of[r.row], r.started_at)
    )
    errors: list[RowError] = []
    last_end: dict[UUID, tuple[datetime, int]] = {}
    for r in ordered:
        member = member_of[r.row]
        previous = last_end.get(member)
        if previous is not None and r.started_at < previous[0]:
            errors.append(RowError(r.row, "started_at", f"overlaps row {previous[1]}"))
            continue
        last_end[member] = (r.ended_at, r.row)
    return errors
