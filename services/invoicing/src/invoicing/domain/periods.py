"""Billing periods: local calendar days, their UTC bounds, and recurring schedules.

A period is a run of whole local days. Its UTC bounds start where the local calendar
first shows the period's first day and end where it first shows the day after its
last day, so consecutive periods tile the time line without gaps or overlaps.

That rule also decides the awkward days:

- midnight happens twice (clocks go back onto 00:00): the day starts at the earlier one;
- midnight does not happen (clocks jump over 00:00, as in America/Santiago): the day
  starts at the jump, its first existing instant;
- the whole day is skipped (Pacific/Apia, 2011-12-30): its bounds are empty, both
  equal to the start of the next day.

In the few zones where clocks went back from just after midnight into the previous
day (America/St_Johns until 2010), the repeated minutes of that previous day lie
within the bounds of the new day, which had already begun.
"""

from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo

Frequency = Literal["weekly", "monthly", "quarterly", "yearly"]

_FREQUENCIES: frozenset[str] = frozenset(get_args(Frequency))
_MONTHS_PER_UNIT: dict[str, int] = {"monthly": 1, "quarterly": 3, "yearly": 12}
_MAX_INTERVAL = 366
_ONE_DAY = timedelta(days=1)
_RESOLUTION = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Period:
    """Local calendar days `start`..`end`, both inclusive."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"period ends on {self.end} before it starts on {self.start}")


def utc_bounds(period: Period, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The period as aware UTC datetimes `[from, to)`.

    `from` is the first instant at which the local calendar in `tz` shows `period.start`
    (or a later day), `to` the first at which it shows the day after `period.end`. That is
    local midnight whenever midnight exists, so days may be 23 or 25 hours long. When
    midnight occurs twice, the earlier one counts; when it is skipped, the instant the
    clocks jump (the earliest existing local time that day); a day skipped entirely
    contributes nothing.
    """
    return _day_start(period.start, tz), _day_start(period.end + _ONE_DAY, tz)


def local_date(instant: datetime, tz: ZoneInfo) -> date:
    """The calendar date of an aware `instant` in `tz`; rate rules take effect by this date."""
    if instant.utcoffset() is None:
        raise ValueError(f"local_date needs an aware datetime, got naive {instant.isoformat()}")
    return instant.astimezone(tz).date()


def occurrences(
    frequency: Frequency, interval: int, start: date, end: date | None, through: date
) -> list[Period]:
    """The periods of a recurring schedule that start by `through` (and by `end`, if given).

    Occurrence k starts `k * interval` weeks, months, quarters or years after `start`,
    always counted from `start` itself: monthly dates keep the start's day of the month,
    clamped to shorter months (Jan 31, Feb 28, Mar 31), and never drift. Each period
    ends the day before the next occurrence starts; the last one is not cut at `end`.
    """
    if frequency not in _FREQUENCIES:
        raise ValueError(f"unknown frequency {frequency!r}")
    if not 1 <= interval <= _MAX_INTERVAL:
        raise ValueError(f"interval must be 1..{_MAX_INTERVAL}, got {interval}")
    last_start = through if end is None else min(through, end)
    periods: list[Period] = []
    begins = start
    while begins <= last_start:
        following = _nth_start(frequency, interval, start, len(periods) + 1)
        periods.append(Period(begins, following - _ONE_DAY))
        begins = following
    return periods


def month_of(day: date) -> Period:
    """The calendar month containing `day`."""
    return Period(day.replace(day=1), day.replace(day=monthrange(day.year, day.month)[1]))


def _day_start(day: date, tz: ZoneInfo) -> datetime:
    wall = datetime.combine(day, time.min)
    candidates = [wall.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1)]
    existing = [c for c in candidates if _wall(c, tz) == wall]
    if existing:
        return min(existing)
    # Midnight falls in a gap. The two folds read it with the offsets from either side of
    # the jump, which puts the jump itself in (before, after]; search for it there.
    before, after = sorted(candidates)
    while after - before > _RESOLUTION:
        middle = before + (after - before) // 2
        if _wall(middle, tz) >= wall:
            after = middle
        else:
            before = middle
    return after


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def _nth_start(frequency: Frequency, interval: int, start: date, n: int) -> date:
    if frequency == "weekly":
        return start + timedelta(weeks=interval * n)
    months = start.month - 1 + _MONTHS_PER_UNIT[frequency] * interval * n
    year, month = start.year + months // 12, months % 12 + 1
    return date(year, month, min(start.day, monthrange(year, month)[1]))
