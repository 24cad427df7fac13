"""Billing periods: UTC bounds of local days across DST, recurring schedules, months."""

from __future__ import annotations

from calendar import monthrange
from dataclasses import FrozenInstanceError
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import cache
from itertools import pairwise
from typing import cast, get_args
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from invoicing.domain.periods import (
    Frequency,
    Period,
    local_date,
    month_of,
    occurrences,
    utc_bounds,
)

# Zones whose local date only ever moves forward: with DST at 01:00/02:00, midnight
# skipped (Santiago, Beirut, Sao_Paulo), midnight repeated (Havana), half-hour DST
# (Lord_Howe), a whole skipped day (Apia), and none at all.
ZONES = [
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Santiago",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Pacific/Apia",
    "America/Sao_Paulo",
    "Asia/Beirut",
    "America/Havana",
]
# Until 2010 its clocks went back at 00:01 to 23:01, so the local date briefly went backwards.
BACKWARDS_ZONE = "America/St_Johns"
FIRST_DAY, LAST_DAY = date(1990, 1, 1), date(2040, 12, 31)
SKIPPED_DAY = ("Pacific/Apia", date(2011, 12, 30))
ONE_DAY = timedelta(days=1)
TICK = timedelta(microseconds=1)
HOUR = timedelta(hours=1)

zones = st.sampled_from(ZONES)
days = st.dates(FIRST_DAY, LAST_DAY)
lengths = st.integers(0, 70)
frequencies = st.sampled_from(get_args(Frequency))


def period(start: date, extra_days: int = 0) -> Period:
    return Period(start, start + timedelta(days=extra_days))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def day_length(zone: str, day: date) -> timedelta:
    start, end = utc_bounds(Period(day, day), ZoneInfo(zone))
    return end - start


def only_skipped_days(zone: str, p: Period) -> bool:
    return (zone, p.start) == SKIPPED_DAY and p.end == p.start


def months_between(a: date, b: date) -> int:
    return (b.year - a.year) * 12 + b.month - a.month


def clamped_day(anchor: date, on: date) -> int:
    return min(anchor.day, monthrange(on.year, on.month)[1])


# --- Period ---------------------------------------------------------------------------


def test_period_may_be_a_single_day() -> None:
    assert Period(date(2026, 5, 1), date(2026, 5, 1)).end == date(2026, 5, 1)


def test_period_ending_before_it_starts_is_rejected() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        Period(date(2026, 5, 2), date(2026, 5, 1))


def test_period_is_immutable() -> None:
    p = Period(date(2026, 5, 1), date(2026, 5, 31))
    with pytest.raises(FrozenInstanceError):
        p.end = date(2026, 6, 1)  # type: ignore[misc]


# --- utc_bounds: properties -----------------------------------------------------------


@given(zone=zones, start=days, extra=lengths)
def test_bounds_are_utc_and_ordered(zone: str, start: date, extra: int) -> None:
    p = period(start, extra)
    lower, upper = utc_bounds(p, ZoneInfo(zone))
    assert lower.tzinfo is UTC
    assert upper.tzinfo is UTC
    assert lower < upper or (lower == upper and only_skipped_days(zone, p))


@given(zone=zones, start=days, first=lengths, second=lengths)
def test_consecutive_periods_share_their_boundary(
    zone: str, start: date, first: int, second: int
) -> None:
    tz = ZoneInfo(zone)
    a = period(start, first)
    b = period(a.end + ONE_DAY, second)
    a_lower, a_upper = utc_bounds(a, tz)
    b_lower, b_upper = utc_bounds(b, tz)
    assert a_upper == b_lower
    assert utc_bounds(Period(a.start, b.end), tz) == (a_lower, b_upper)


@given(zone=zones, start=days, extra=lengths)
def test_bounds_start_and_end_where_the_local_calendar_turns(
    zone: str, start: date, extra: int
) -> None:
    tz = ZoneInfo(zone)
    p = period(start, extra)
    lower, upper = utc_bounds(p, tz)
    assert local_date(lower - TICK, tz) < p.start <= local_date(lower, tz)
    assert local_date(upper - TICK, tz) <= p.end < local_date(upper, tz)


@given(zone=zones, start=days, extra=lengths, data=st.data())
def test_every_instant_inside_the_bounds_is_on_a_day_of_the_period(
    zone: str, start: date, extra: int, data: st.DataObject
) -> None:
    tz = ZoneInfo(zone)
    p = period(start, extra)
    lower, upper = utc_bounds(p, tz)
    micros = (upper - lower) // TICK
    if micros == 0:
        assert only_skipped_days(zone, p)
        return
    instant = lower + data.draw(st.integers(0, micros - 1)) * TICK
    assert p.start <= local_date(instant, tz) <= p.end


@cache
def days_near_offset_changes(zone: str) -> tuple[date, ...]:
    tz = ZoneInfo(zone)
    noon = datetime.combine(FIRST_DAY - ONE_DAY, time(12), tzinfo=UTC)
    offsets = [
        (noon + n * ONE_DAY).astimezone(tz).utcoffset()
        for n in range((LAST_DAY - FIRST_DAY).days + 3)
    ]
    near: set[date] = set()
    for n in range(1, len(offsets)):
        if offsets[n] != offsets[n - 1]:
            # The change is between two UTC noons; with offsets under 15 h it falls on
            # one of these local days.
            changed = (noon + n * ONE_DAY).date()
            near.update(changed + k * ONE_DAY for k in range(-2, 2))
    return tuple(sorted(near))


def first_minute_showing(day: date, tz: ZoneInfo) -> datetime:
    """Brute force: walk UTC minutes up to the first whose local date is `day` or later."""
    midnight_as_utc = datetime.combine(day, time.min, tzinfo=UTC)
    nearby = [midnight_as_utc + k * 6 * HOUR for k in range(-8, 9)]
    largest_offset = max(cast(timedelta, t.astimezone(tz).utcoffset()) for t in nearby)
    minute = midnight_as_utc - largest_offset - timedelta(minutes=1)
    assert local_date(minute, tz) < day
    while local_date(minute, tz) < day:
        minute += timedelta(minutes=1)
    return minute


@pytest.mark.parametrize("zone", [*ZONES, BACKWARDS_ZONE])
def test_every_day_near_an_offset_change_starts_at_its_first_minute(zone: str) -> None:
    # Every offset change in these zones since 1990 is on a whole minute.
    tz = ZoneInfo(zone)
    for day in days_near_offset_changes(zone):
        assert utc_bounds(Period(day, day), tz)[0] == first_minute_showing(day, tz), day


@pytest.mark.parametrize("zone", ZONES)
def test_every_quarter_hour_of_a_day_near_an_offset_change_is_on_that_day(zone: str) -> None:
    tz = ZoneInfo(zone)
    for day in days_near_offset_changes(zone):
        lower, upper = utc_bounds(Period(day, day), tz)
        instant = lower
        while instant < upper:
            assert local_date(instant, tz) == day, instant
            instant += timedelta(minutes=15)
        if lower < upper:
            assert local_date(upper - TICK, tz) == day


def test_offset_changes_are_found_where_expected() -> None:
    # Guards the two tests above against checking nothing.
    assert days_near_offset_changes("UTC") == ()
    assert date(2026, 3, 29) in days_near_offset_changes("Europe/Berlin")
    assert date(2011, 12, 30) in days_near_offset_changes("Pacific/Apia")
    assert len(days_near_offset_changes("America/Santiago")) > 300


# --- utc_bounds: examples -------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        ("Europe/Berlin", date(2026, 3, 29), 23),
        ("Europe/Berlin", date(2026, 10, 25), 25),
        ("Europe/Berlin", date(2026, 1, 15), 24),
        ("America/New_York", date(2026, 3, 8), 23),
        ("America/New_York", date(2026, 11, 1), 25),
        ("Europe/London", date(2026, 3, 29), 23),
        ("Australia/Lord_Howe", date(2026, 4, 5), 24.5),
        ("Australia/Lord_Howe", date(2026, 10, 4), 23.5),
        ("America/Santiago", date(2026, 4, 4), 25),
        ("America/Santiago", date(2026, 9, 6), 23),
        ("Asia/Kolkata", date(2026, 3, 29), 24),
    ],
)
def test_local_day_length(zone: str, day: date, hours: float) -> None:
    assert day_length(zone, day) == timedelta(hours=hours)


def test_berlin_spring_forward_day_in_utc() -> None:
    bounds = utc_bounds(Period(date(2026, 3, 29), date(2026, 3, 29)), ZoneInfo("Europe/Berlin"))
    assert bounds == (utc("2026-03-28T23:00"), utc("2026-03-29T22:00"))


def test_berlin_fall_back_day_in_utc() -> None:
    bounds = utc_bounds(Period(date(2026, 10, 25), date(2026, 10, 25)), ZoneInfo("Europe/Berlin"))
    assert bounds == (utc("2026-10-24T22:00"), utc("2026-10-25T23:00"))


def test_new_york_dst_days_in_utc() -> None:
    tz = ZoneInfo("America/New_York")
    spring = utc_bounds(Period(date(2026, 3, 8), date(2026, 3, 8)), tz)
    fall = utc_bounds(Period(date(2026, 11, 1), date(2026, 11, 1)), tz)
    assert spring == (utc("2026-03-08T05:00"), utc("2026-03-09T04:00"))
    assert fall == (utc("2026-11-01T04:00"), utc("2026-11-02T05:00"))


def test_month_with_a_dst_change_is_an_hour_short() -> None:
    lower, upper = utc_bounds(month_of(date(2026, 3, 1)), ZoneInfo("Europe/Berlin"))
    assert upper - lower == timedelta(days=31) - HOUR


@pytest.mark.parametrize(
    ("zone", "day", "first_instant"),
    [
        # Clocks jump from 00:00 to 01:00; the day begins at 01:00 local time.
        ("America/Santiago", date(2026, 9, 6), "2026-09-06T04:00"),
        ("Asia/Beirut", date(2026, 3, 29), "2026-03-28T22:00"),
        ("America/Sao_Paulo", date(2018, 11, 4), "2018-11-04T03:00"),
    ],
)
def test_day_without_a_midnight_starts_when_the_clocks_jump(
    zone: str, day: date, first_instant: str
) -> None:
    tz = ZoneInfo(zone)
    lower, upper = utc_bounds(Period(day, day), tz)
    assert lower == utc(first_instant)
    assert lower.astimezone(tz).time() == time(1)
    assert upper - lower == 23 * HOUR


def test_day_whose_midnight_is_inside_a_jump_starts_when_the_clocks_jump() -> None:
    # Toronto jumped from 23:30 on 1919-03-30 to 00:30 on 03-31: reading midnight with either
    # offset would miss the day's first half hour or start in the day before.
    tz = ZoneInfo("America/Toronto")
    lower, _ = utc_bounds(Period(date(1919, 3, 31), date(1919, 3, 31)), tz)
    assert lower == utc("1919-03-31T04:30")
    assert lower.astimezone(tz).time() == time(0, 30)
    assert local_date(lower - TICK, tz) == date(1919, 3, 30)


def test_day_with_two_midnights_starts_at_the_first() -> None:
    # Havana goes back from 01:00 to 00:00, so 00:00 on 2026-11-01 happens twice.
    tz = ZoneInfo("America/Havana")
    lower, upper = utc_bounds(Period(date(2026, 11, 1), date(2026, 11, 1)), tz)
    assert lower == utc("2026-11-01T04:00")
    assert (lower + HOUR).astimezone(tz).time() == time(0)
    assert upper - lower == 25 * HOUR


def test_skipped_day_has_empty_bounds_and_its_neighbours_tile() -> None:
    tz = ZoneInfo("Pacific/Apia")
    jump = utc("2011-12-30T10:00")
    assert utc_bounds(Period(date(2011, 12, 30), date(2011, 12, 30)), tz) == (jump, jump)
    assert utc_bounds(Period(date(2011, 12, 29), date(2011, 12, 29)), tz)[1] == jump
    assert utc_bounds(Period(date(2011, 12, 31), date(2011, 12, 31)), tz)[0] == jump
    week = utc_bounds(Period(date(2011, 12, 27), date(2012, 1, 2)), tz)
    assert week[1] - week[0] == 6 * ONE_DAY


def test_day_the_clocks_briefly_left_belongs_to_the_day_after() -> None:
    # St. John's went from 00:01 on 10-28 back to 23:01 on 10-27: 10-28 begins at the first
    # midnight, and the repeated hour of 10-27 falls within 10-28's bounds.
    tz = ZoneInfo(BACKWARDS_ZONE)
    day = date(1990, 10, 28)
    lower, upper = utc_bounds(Period(day, day), tz)
    assert lower == utc("1990-10-28T02:30")
    assert utc_bounds(Period(day - ONE_DAY, day - ONE_DAY), tz)[1] == lower
    assert local_date(lower + 30 * timedelta(minutes=1), tz) == day - ONE_DAY
    assert upper - lower == 25 * HOUR


# --- local_date -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "zone", "day"),
    [
        ("2026-03-28T22:59:59", "Europe/Berlin", date(2026, 3, 28)),
        ("2026-03-28T23:00:00", "Europe/Berlin", date(2026, 3, 29)),
        ("2026-01-01T04:59:59", "America/New_York", date(2025, 12, 31)),
        ("2026-01-01T05:00:00", "America/New_York", date(2026, 1, 1)),
        ("2026-06-30T18:29:59", "Asia/Kolkata", date(2026, 6, 30)),
        ("2026-06-30T18:30:00", "Asia/Kolkata", date(2026, 7, 1)),
    ],
)
def test_local_date_of_utc_instants(instant: str, zone: str, day: date) -> None:
    assert local_date(utc(instant), ZoneInfo(zone)) == day


def test_local_date_accepts_any_aware_instant() -> None:
    plus_ten = timezone(timedelta(hours=10))
    instant = datetime(2026, 7, 1, 8, 0, tzinfo=plus_ten)  # 2026-06-30T22:00Z
    assert local_date(instant, ZoneInfo("UTC")) == date(2026, 6, 30)
    assert local_date(instant, ZoneInfo("Pacific/Apia")) == date(2026, 7, 1)


def test_local_date_rejects_naive_instants() -> None:
    with pytest.raises(ValueError, match="aware"):
        local_date(datetime(2026, 7, 1, 8, 0), ZoneInfo("UTC"))


# --- occurrences: properties ----------------------------------------------------------


@given(
    frequency=frequencies,
    interval=st.integers(1, 13),
    start=days,
    horizon=st.integers(-40, 1500),
    stop=st.none() | st.integers(-40, 1500),
)
def test_occurrences_tile_the_schedule(
    frequency: Frequency, interval: int, start: date, horizon: int, stop: int | None
) -> None:
    through = start + timedelta(days=horizon)
    end = None if stop is None else start + timedelta(days=stop)
    last_start = through if end is None else min(through, end)
    periods = occurrences(frequency, interval, start, end, through)

    assert bool(periods) == (start <= last_start)
    if not periods:
        return
    assert periods[0].start == start
    for before, after in pairwise(periods):
        assert after.start == before.end + ONE_DAY
    assert periods[-1].start <= last_start
    # The next occurrence, the day after the last period, is past the horizon.
    assert periods[-1].end + ONE_DAY > last_start


@given(frequency=frequencies, interval=st.integers(1, 13), start=days, horizon=st.integers(0, 1500))
def test_occurrences_are_anchored_on_the_start_and_never_drift(
    frequency: Frequency, interval: int, start: date, horizon: int
) -> None:
    periods = occurrences(frequency, interval, start, None, start + timedelta(days=horizon))
    units = {"weekly": 0, "monthly": 1, "quarterly": 3, "yearly": 12}[frequency]
    for k, p in enumerate(periods):
        if frequency == "weekly":
            assert p.start == start + timedelta(weeks=k * interval)
            assert p.end - p.start == timedelta(weeks=interval) - ONE_DAY
        else:
            assert months_between(start, p.start) == k * interval * units
            assert p.start.day == clamped_day(start, p.start)


@given(frequency=frequencies, interval=st.integers(1, 366), start=days)
def test_a_schedule_always_has_its_first_period(
    frequency: Frequency, interval: int, start: date
) -> None:
    (only,) = occurrences(frequency, interval, start, None, start)
    assert only.start == start
    assert only.end > start


# --- occurrences: examples ------------------------------------------------------------


def test_monthly_from_the_31st_clamps_and_returns() -> None:
    periods = occurrences("monthly", 1, date(2027, 1, 31), None, date(2027, 5, 31))
    assert periods == [
        Period(date(2027, 1, 31), date(2027, 2, 27)),
        Period(date(2027, 2, 28), date(2027, 3, 30)),
        Period(date(2027, 3, 31), date(2027, 4, 29)),
        Period(date(2027, 4, 30), date(2027, 5, 30)),
        Period(date(2027, 5, 31), date(2027, 6, 29)),
    ]


def test_monthly_from_the_31st_reaches_the_leap_day() -> None:
    starts = [
        p.start for p in occurrences("monthly", 1, date(2028, 1, 31), None, date(2028, 3, 31))
    ]
    assert starts == [date(2028, 1, 31), date(2028, 2, 29), date(2028, 3, 31)]


def test_every_second_month_from_the_30th() -> None:
    starts = [
        p.start for p in occurrences("monthly", 2, date(2026, 12, 30), None, date(2027, 5, 1))
    ]
    assert starts == [date(2026, 12, 30), date(2027, 2, 28), date(2027, 4, 30)]


def test_quarterly_clamps_to_the_end_of_the_quarter_month() -> None:
    starts = [
        p.start for p in occurrences("quarterly", 1, date(2027, 8, 31), None, date(2028, 8, 31))
    ]
    assert starts == [
        date(2027, 8, 31),
        date(2027, 11, 30),
        date(2028, 2, 29),
        date(2028, 5, 31),
        date(2028, 8, 31),
    ]


def test_yearly_from_a_leap_day() -> None:
    starts = [p.start for p in occurrences("yearly", 1, date(2028, 2, 29), None, date(2032, 3, 1))]
    assert starts == [
        date(2028, 2, 29),
        date(2029, 2, 28),
        date(2030, 2, 28),
        date(2031, 2, 28),
        date(2032, 2, 29),
    ]


def test_every_four_years_from_a_leap_day_skips_2100() -> None:
    periods = occurrences("yearly", 4, date(2096, 2, 29), None, date(2104, 12, 31))
    assert [p.start for p in periods] == [date(2096, 2, 29), date(2100, 2, 28), date(2104, 2, 29)]
    assert periods[0].end == date(2100, 2, 27)


@pytest.mark.parametrize(
    ("frequency", "interval", "start", "through", "count"),
    [
        ("weekly", 1, date(2026, 1, 5), date(2026, 3, 30), 13),
        ("weekly", 1, date(2026, 1, 5), date(2026, 3, 29), 12),
        ("weekly", 2, date(2026, 1, 5), date(2026, 3, 30), 7),
        ("monthly", 1, date(2026, 1, 15), date(2026, 12, 15), 12),
        ("monthly", 1, date(2026, 1, 15), date(2026, 12, 14), 11),
        ("monthly", 3, date(2026, 1, 1), date(2026, 12, 31), 4),
        ("quarterly", 1, date(2026, 1, 1), date(2026, 12, 31), 4),
        ("quarterly", 2, date(2026, 1, 1), date(2026, 12, 31), 2),
        ("yearly", 1, date(2020, 6, 1), date(2026, 6, 1), 7),
        ("yearly", 366, date(2020, 6, 1), date(2385, 12, 31), 1),
        ("yearly", 366, date(2020, 6, 1), date(2386, 6, 1), 2),
    ],
)
def test_occurrence_counts(
    frequency: Frequency, interval: int, start: date, through: date, count: int
) -> None:
    assert len(occurrences(frequency, interval, start, None, through)) == count


def test_monthly_from_the_first_gives_calendar_months() -> None:
    periods = occurrences("monthly", 1, date(2027, 11, 1), None, date(2028, 3, 1))
    assert periods == [month_of(date(2027, 11, 1) + timedelta(days=31 * k)) for k in range(5)]


def test_schedule_starting_after_through_has_no_periods() -> None:
    assert occurrences("monthly", 1, date(2026, 5, 2), None, date(2026, 5, 1)) == []


def test_schedule_ending_before_it_starts_has_no_periods() -> None:
    assert occurrences("monthly", 1, date(2026, 5, 2), date(2026, 5, 1), date(2027, 1, 1)) == []


def test_end_stops_the_schedule_but_does_not_cut_the_last_period() -> None:
    starts_jan = occurrences("monthly", 1, date(2026, 1, 1), date(2026, 3, 15), date(2026, 12, 31))
    assert starts_jan == [month_of(date(2026, m, 1)) for m in (1, 2, 3)]
    assert occurrences("monthly", 1, date(2026, 1, 1), date(2026, 3, 1), date(2026, 12, 31)) == (
        starts_jan
    )
    assert (
        len(occurrences("monthly", 1, date(2026, 1, 1), date(2026, 2, 28), date(2026, 12, 31))) == 2
    )


def test_through_before_end_wins() -> None:
    periods = occurrences("weekly", 1, date(2026, 1, 5), date(2026, 12, 31), date(2026, 1, 19))
    assert [p.start for p in periods] == [date(2026, 1, 5), date(2026, 1, 12), date(2026, 1, 19)]


@pytest.mark.parametrize("interval", [0, -1, 367, 10_000])
def test_interval_out_of_range_is_rejected(interval: int) -> None:
    with pytest.raises(ValueError, match="interval"):
        occurrences("monthly", interval, date(2026, 1, 1), None, date(2026, 12, 31))


def test_interval_is_checked_even_when_there_would_be_no_periods() -> None:
    with pytest.raises(ValueError, match="interval"):
        occurrences("weekly", 0, date(2026, 1, 2), None, date(2026, 1, 1))


@pytest.mark.parametrize("interval", [1, 366])
def test_interval_bounds_are_accepted(interval: int) -> None:
    assert occurrences("weekly", interval, date(2026, 1, 1), None, date(2026, 1, 1))


def test_unknown_frequency_is_rejected() -> None:
    with pytest.raises(ValueError, match="frequency"):
        occurrences(cast(Frequency, "daily"), 1, date(2026, 1, 1), None, date(2026, 1, 31))


# --- month_of -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "start", "end"),
    [
        (date(2026, 1, 31), date(2026, 1, 1), date(2026, 1, 31)),
        (date(2026, 2, 14), date(2026, 2, 1), date(2026, 2, 28)),
        (date(2028, 2, 1), date(2028, 2, 1), date(2028, 2, 29)),
        (date(2100, 2, 28), date(2100, 2, 1), date(2100, 2, 28)),
        (date(2026, 12, 31), date(2026, 12, 1), date(2026, 12, 31)),
    ],
)
def test_month_of(day: date, start: date, end: date) -> None:
    assert month_of(day) == Period(start, end)


@given(day=st.dates(date(1900, 1, 1), date(2200, 12, 31)))
def test_month_of_is_the_whole_month_around_the_day(day: date) -> None:
    month = month_of(day)
    assert month.start <= day <= month.end
    assert month.start.day == 1
    assert (month.start.year, month.start.month) == (day.year, day.month)
    assert (month.end + ONE_DAY).day == 1
    assert month_of(month.end + ONE_DAY).start == month.end + ONE_DAY
