"""Planning a draft: time lines grouped and priced per entry date, fees, retainers, manual lines."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invoicing.domain.drafting import (
    DraftLine,
    DraftPlan,
    ManualLine,
    UnbilledEntry,
    fee_key,
    plan_draft,
)
from invoicing.domain.invoices import GroupBy
from invoicing.domain.periods import Period
from invoicing.domain.pricing import Discount, RoundingMode, Tax, billed_seconds, hours
from invoicing.domain.rates import RateKind, RateRule, resolve

TZ = ZoneInfo("Europe/Berlin")
TENANT = UUID(int=1)
CLIENT, OTHER_CLIENT = UUID(int=10), UUID(int=11)
PROJECT_A, PROJECT_B = UUID(int=20), UUID(int=21)
PROJECT_NAMES = {PROJECT_A: "Alpha", PROJECT_B: "Beta"}
MEMBERS = [UUID(int=30), UUID(int=31), UUID(int=32)]
TASKS = [None, "design", "build"]
GROUPINGS: list[GroupBy] = ["project", "member", "task", "entry"]
MODES: list[RoundingMode] = ["up", "nearest", "down"]
CREATED = datetime(2023, 12, 1, tzinfo=UTC)
VAT = Tax(UUID(int=90), "VAT", Decimal(19), "standard")


def rule(
    rule_id: int,
    kind: RateKind = "hourly",
    *,
    amount_minor: int = 10_000,
    effective_from: date = date(2024, 1, 1),
    effective_to: date | None = None,
    client_id: UUID | None = None,
    project_id: UUID | None = None,
    member_id: UUID | None = None,
    currency: str = "EUR",
    hours_per_day: Decimal = Decimal(8),
    description: str = "",
) -> RateRule:
    return RateRule(
        tenant_id=TENANT,
        id=UUID(int=rule_id),
        kind=kind,
        client_id=client_id,
        project_id=project_id,
        member_id=member_id,
        currency=currency,
        amount_minor=amount_minor,
        hours_per_day=hours_per_day,
        effective_from=effective_from,
        effective_to=effective_to,
        description=description,
        version=1,
        created_at=CREATED,
        updated_at=CREATED,
    )


def entry(
    entry_id: int,
    started_at: datetime,
    duration_seconds: int = 3600,
    *,
    project_id: UUID = PROJECT_A,
    member_id: UUID = MEMBERS[0],
    task: str | None = None,
    increment: int = 1,
    mode: RoundingMode = "up",
    version: int = 1,
) -> UnbilledEntry:
    return UnbilledEntry(
        entry_id=UUID(int=entry_id),
        version=version,
        member_id=member_id,
        project_id=project_id,
        project_name=PROJECT_NAMES[project_id],
        task=task,
        started_at=started_at,
        duration_seconds=duration_seconds,
        rounding_increment_minutes=increment,
        rounding_mode=mode,
    )


def draft(
    entries: list[UnbilledEntry],
    rules: list[RateRule],
    *,
    group_by: GroupBy = "project",
    currency: str = "EUR",
    period: Period | None = None,
    billed_charges: tuple[tuple[UUID, date], ...] = (),
    manual: tuple[ManualLine, ...] = (),
    tax: Tax | None = VAT,
) -> DraftPlan:
    return plan_draft(
        entries,
        rules,
        client_id=CLIENT,
        currency=currency,
        tz=TZ,
        group_by=group_by,
        tax=tax,
        period=period,
        billed_charges=billed_charges,
        manual=manual,
    )


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def half_up(value: Fraction) -> int:
    magnitude = int(abs(value) + Fraction(1, 2))
    return magnitude if value >= 0 else -magnitude


FEE = rule(
    5, "fixed_fee", amount_minor=500_000, project_id=PROJECT_B, effective_from=date(2024, 3, 15)
)
RULES = [
    rule(1, amount_minor=9_000, effective_from=date(2024, 2, 1)),
    rule(
        2,
        "daily",
        amount_minor=60_000,
        client_id=CLIENT,
        effective_to=date(2024, 1, 31),
        hours_per_day=Decimal("7.5"),
    ),
    rule(
        3,
        amount_minor=12_000,
        client_id=CLIENT,
        project_id=PROJECT_A,
        effective_from=date(2024, 3, 1),
    ),
    rule(
        4,
        amount_minor=15_000,
        client_id=CLIENT,
        project_id=PROJECT_B,
        member_id=MEMBERS[0],
        effective_from=date(2024, 1, 15),
        effective_to=date(2024, 2, 29),
    ),
    FEE,
    rule(6, amount_minor=1_000_000, currency="JPY"),
]

entries_strategy = st.lists(
    st.builds(
        entry,
        st.integers(1, 10**6),
        st.datetimes(datetime(2024, 1, 1), datetime(2024, 4, 30), timezones=st.just(UTC)),
        st.integers(0, 36_000),
        project_id=st.sampled_from([PROJECT_A, PROJECT_B]),
        member_id=st.sampled_from(MEMBERS),
        task=st.sampled_from(TASKS),
        increment=st.sampled_from([1, 6, 15, 30]),
        mode=st.sampled_from(MODES),
        version=st.integers(1, 3),
    ),
    max_size=15,
    unique_by=lambda e: e.entry_id,
)


@dataclass(frozen=True)
class Case:
    entries: list[UnbilledEntry]
    rules: list[RateRule]
    group_by: GroupBy
    fee_billed: bool

    def plan(self) -> DraftPlan:
        return draft(
            self.entries,
            self.rules,
            group_by=self.group_by,
            billed_charges=(fee_key(FEE),) if self.fee_billed else (),
        )

    def rule_of(self, e: UnbilledEntry) -> RateRule | None:
        return resolve(
            self.rules,
            currency="EUR",
            client_id=CLIENT,
            project_id=e.project_id,
            member_id=e.member_id,
            day=e.started_at.astimezone(TZ).date(),
        )


cases = st.builds(
    Case,
    entries_strategy,
    st.lists(st.sampled_from(RULES), unique=True).map(lambda rs: sorted(rs, key=lambda r: r.id)),
    st.sampled_from(GROUPINGS),
    st.booleans(),
)


def time_lines(plan: DraftPlan) -> list[DraftLine]:
    return [line for line in plan.lines if line.kind == "time"]


@settings(max_examples=100, deadline=None)
@given(cases)
def test_every_priced_entry_is_on_exactly_one_line_and_unpriced_on_none(case: Case) -> None:
    plan = case.plan()
    on_lines = Counter(c.entry_id for line in time_lines(plan) for c in line.entries)
    unpriced = {e.entry_id for e in case.entries if case.rule_of(e) is None}

    assert set(plan.unpriced) == unpriced
    assert len(plan.unpriced) == len(unpriced)
    assert set(on_lines) == {e.entry_id for e in case.entries} - unpriced
    assert all(count == 1 for count in on_lines.values())


@settings(max_examples=100, deadline=None)
@given(cases)
def test_lines_sum_their_entries_each_rounded_on_its_own(case: Case) -> None:
    by_id = {e.entry_id: e for e in case.entries}

    for line in time_lines(case.plan()):
        assert line.entries
        for charge in line.entries:
            e = by_id[charge.entry_id]
            assert charge.version == e.version
            assert charge.raw_seconds == e.duration_seconds
            assert charge.billed_seconds == billed_seconds(
                e.duration_seconds, e.rounding_increment_minutes, e.rounding_mode
            )
        assert line.raw_seconds == sum(by_id[c.entry_id].duration_seconds for c in line.entries)
        assert line.billed_seconds == sum(c.billed_seconds for c in line.entries)


@settings(max_examples=100, deadline=None)
@given(cases)
def test_each_line_is_one_group_priced_by_the_rule_of_its_entries(case: Case) -> None:
    by_id = {e.entry_id: e for e in case.entries}
    lines = time_lines(case.plan())
    keys = []

    for line in lines:
        assert line.rule is not None
        assert line.tax == VAT
        members: set[UUID] = set()
        tasks: set[str | None] = set()
        for charge in line.entries:
            e = by_id[charge.entry_id]
            assert case.rule_of(e) == line.rule
            assert e.project_id == line.project_id
            members.add(e.member_id)
            tasks.add(e.task)
        if case.group_by in ("member", "entry"):
            assert members == {line.member_id}
        else:
            assert line.member_id is None
        if case.group_by in ("task", "entry"):
            assert tasks == {line.task}
        else:
            assert line.task is None
        keys.append((line.project_id, line.member_id, line.task, line.rule.id))
    if case.group_by == "entry":
        assert all(len(line.entries) == 1 for line in lines)
    else:
        assert len(keys) == len(set(keys))


@settings(max_examples=100, deadline=None)
@given(cases)
def test_time_line_quantity_and_amount_are_rounded_once(case: Case) -> None:
    for line in time_lines(case.plan()):
        assert line.rule is not None
        assert line.billed_seconds is not None
        if line.rule.kind == "daily":
            assert line.unit == "d"
            assert line.quantity == hours(line.billed_seconds, line.rule.hours_per_day)
        else:
            assert line.unit == "h"
            assert line.quantity == hours(line.billed_seconds)
        price = line.rule.amount_minor if line.rule.prices_time else 0
        assert line.unit_amount_minor == price
        assert line.amount_minor == half_up(Fraction(line.quantity) * price)


@settings(max_examples=100, deadline=None)
@given(cases)
def test_a_fixed_fee_is_billed_once_with_its_time_at_no_charge(case: Case) -> None:
    plan = case.plan()
    covered = [line for line in time_lines(plan) if line.rule == FEE]
    fees = [line for line in plan.lines if line.kind == "fixed_fee"]

    assert all(line.amount_minor == 0 for line in covered)
    if covered and not case.fee_billed:
        assert len(fees) == 1
        assert fees[0].amount_minor == FEE.amount_minor
        assert fees[0].charges == (fee_key(FEE),)
    else:
        assert fees == []
    assert [line for line in plan.lines if line.kind not in ("time", "fixed_fee")] == []


def test_a_fixed_fee_rule_prices_entries_at_zero_plus_one_fee_line() -> None:
    entries = [
        entry(i, utc(2024, 3, 20, 9 + i), project_id=PROJECT_B, member_id=MEMBERS[i % 3])
        for i in range(1, 5)
    ]

    plan = draft(entries, [FEE], group_by="member")

    assert {line.kind for line in plan.lines} == {"time", "fixed_fee"}
    assert all(line.unit_amount_minor == 0 and line.amount_minor == 0 for line in time_lines(plan))
    assert all(line.description.endswith("(covered by fixed fee)") for line in time_lines(plan))
    (fee,) = [line for line in plan.lines if line.kind == "fixed_fee"]
    assert (fee.quantity, fee.unit_amount_minor, fee.amount_minor) == (Decimal(1), 500_000, 500_000)
    assert fee.project_id == PROJECT_B
    assert fee.charges == ((FEE.id, date(2024, 3, 15)),)

    again = draft(entries, [FEE], group_by="member", billed_charges=(fee_key(FEE),))

    assert [line.kind for line in again.lines] == ["time"] * len(time_lines(plan))


def test_an_entry_late_in_the_utc_day_is_priced_by_the_next_local_days_rule() -> None:
    rules = [
        rule(1, amount_minor=10_000, project_id=PROJECT_A),
        rule(2, amount_minor=20_000, project_id=PROJECT_A, effective_from=date(2024, 3, 15)),
        rule(3, amount_minor=30_000, project_id=PROJECT_A, effective_from=date(2024, 7, 1)),
    ]
    winter_before, winter_after = utc(2024, 3, 14, 22, 30), utc(2024, 3, 14, 23, 30)
    summer_before, summer_after = utc(2024, 6, 30, 21, 30), utc(2024, 6, 30, 23, 30)
    entries = [
        entry(1, winter_before),
        entry(2, winter_after),
        entry(3, summer_before),
        entry(4, summer_after),
    ]

    plan = draft(entries, rules, group_by="entry")

    priced_by = {line.entries[0].entry_id: line.unit_amount_minor for line in plan.lines}
    assert priced_by == {
        UUID(int=1): 10_000,
        UUID(int=2): 20_000,
        UUID(int=3): 20_000,
        UUID(int=4): 30_000,
    }


def test_billed_seconds_are_rounded_per_entry_before_summing() -> None:
    entries = [entry(i, utc(2024, 2, 1, 9 + i), 60, increment=15, mode="up") for i in (1, 2)]

    (line,) = draft(entries, [rule(1, amount_minor=10_000)]).lines

    assert (line.raw_seconds, line.billed_seconds) == (120, 1800)
    assert line.quantity == Decimal("0.50")
    assert line.amount_minor == 5_000


def test_group_by_entry_gives_one_line_per_entry() -> None:
    entries = [entry(i, utc(2024, 2, 1, 8 + i), 1000 * i) for i in range(1, 6)]

    plan = draft(entries, [rule(1)], group_by="entry")

    assert [line.entries[0].entry_id for line in plan.lines] == [e.entry_id for e in entries]
    assert [line.raw_seconds for line in plan.lines] == [e.duration_seconds for e in entries]


def test_unpriced_entries_are_listed_and_left_off_the_lines() -> None:
    entries = [entry(1, utc(2024, 1, 10, 9)), entry(2, utc(2024, 2, 10, 9))]

    plan = draft(entries, [rule(1, effective_from=date(2024, 2, 1)), rule(2, currency="KWD")])

    assert plan.unpriced == (UUID(int=1),)
    assert [c.entry_id for line in plan.lines for c in line.entries] == [UUID(int=2)]


RETAINER = rule(
    7,
    "monthly_retainer",
    amount_minor=250_000,
    client_id=CLIENT,
    effective_from=date(2023, 6, 1),
    description="Support",
)


def retainer_lines(plan: DraftPlan) -> list[DraftLine]:
    return [line for line in plan.lines if line.kind == "retainer"]


def test_a_retainer_bills_each_month_of_the_period_once() -> None:
    period = Period(date(2024, 1, 15), date(2024, 3, 10))

    plan = draft([], [RETAINER], period=period)

    lines = retainer_lines(plan)
    assert [line.charges for line in lines] == [
        ((RETAINER.id, date(2024, 1, 1)),),
        ((RETAINER.id, date(2024, 2, 1)),),
        ((RETAINER.id, date(2024, 3, 1)),),
    ]
    assert [line.description for line in lines] == [
        "Retainer 2024-01: Support",
        "Retainer 2024-02: Support",
        "Retainer 2024-03: Support",
    ]
    assert all(line.amount_minor == 250_000 and line.tax == VAT for line in lines)


def test_retainer_months_already_billed_are_not_billed_again() -> None:
    period = Period(date(2024, 1, 1), date(2024, 3, 31))
    billed = ((RETAINER.id, date(2024, 2, 1)),)

    plan = draft([], [RETAINER], period=period, billed_charges=billed)

    assert [line.charges[0][1] for line in retainer_lines(plan)] == [
        date(2024, 1, 1),
        date(2024, 3, 1),
    ]


def test_a_retainer_bills_only_the_months_it_is_in_effect() -> None:
    period = Period(date(2024, 1, 1), date(2024, 4, 30))
    short = rule(
        8,
        "monthly_retainer",
        client_id=CLIENT,
        effective_from=date(2024, 2, 20),
        effective_to=date(2024, 3, 1),
    )

    plan = draft([], [short], period=period)

    assert [line.charges[0][1] for line in retainer_lines(plan)] == [
        date(2024, 2, 1),
        date(2024, 3, 1),
    ]


def test_no_retainer_without_a_period_or_for_another_client() -> None:
    other = rule(9, "monthly_retainer", client_id=OTHER_CLIENT)
    period = Period(date(2024, 1, 1), date(2024, 3, 31))

    assert draft([], [RETAINER]).lines == ()
    assert draft([], [other], period=period).lines == ()


def test_time_covered_by_a_retainer_is_shown_at_no_charge() -> None:
    plan = draft([entry(1, utc(2024, 2, 5, 9), 5400)], [RETAINER])

    (line,) = plan.lines
    assert (line.quantity, line.unit_amount_minor, line.amount_minor) == (Decimal("1.50"), 0, 0)
    assert line.description == "Alpha (retainer)"


quantities = st.integers(-(10**7), 10**8).map(lambda n: Decimal(n).scaleb(-4))


@settings(max_examples=150)
@given(quantities, st.integers(-(10**6), 10**8), st.sampled_from(["JPY", "EUR", "KWD"]))
def test_manual_line_amount_is_quantity_times_unit_price_rounded_once(
    quantity: Decimal, unit_minor: int, currency: str
) -> None:
    discount = Discount("percent", Decimal(10))
    manual = ManualLine("Setup", quantity, unit_minor, unit="pc", discount=discount, tax=VAT)

    (line,) = draft([], [], currency=currency, manual=(manual,)).lines

    assert line.kind == "manual"
    assert line.amount_minor == half_up(Fraction(quantity) * unit_minor)
    assert (line.quantity, line.unit_amount_minor, line.unit) == (quantity, unit_minor, "pc")
    assert (line.discount, line.tax, line.description) == (discount, VAT, "Setup")
    assert line.as_input().amount_minor == line.amount_minor


@pytest.mark.parametrize(
    ("currency", "quantity", "unit_minor", "amount"),
    [("JPY", "0.5", 1, 1), ("EUR", "-0.0050", 100, -1), ("KWD", "0.0005", 1000, 1)],
)
def test_manual_line_halves_round_away_from_zero(
    currency: str, quantity: str, unit_minor: int, amount: int
) -> None:
    manual = ManualLine("x", Decimal(quantity), unit_minor)

    (line,) = draft([], [], currency=currency, manual=(manual,)).lines

    assert line.amount_minor == amount


def test_lines_come_as_time_then_fees_then_retainers_then_manual() -> None:
    entries = [entry(1, utc(2024, 3, 20, 9), project_id=PROJECT_B), entry(2, utc(2024, 3, 20, 9))]
    period = Period(date(2024, 3, 1), date(2024, 3, 31))

    plan = draft(
        entries,
        [rule(1), FEE, RETAINER],
        period=period,
        manual=(ManualLine("Travel", Decimal(1), 4_000),),
    )

    assert [line.kind for line in plan.lines] == ["time", "time", "fixed_fee", "retainer", "manual"]
    assert [line.rule for line in plan.lines[:2]] == [FEE, RETAINER]
    assert [line.amount_minor for line in plan.lines] == [0, 0, 500_000, 250_000, 4_000]
    assert plan.unpriced == ()


def test_entries_are_grouped_in_order_of_start_whatever_the_input_order() -> None:
    entries = [entry(i, utc(2024, 2, 1, 8) + timedelta(hours=i)) for i in range(1, 5)]

    forward = draft(entries, [rule(1)], group_by="entry")
    backward = draft(entries[::-1], [rule(1)], group_by="entry")

    assert forward == backward
