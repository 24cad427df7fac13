"""Cost rounding (half away from zero, once per entry) and budget threshold crossings."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from contracts.money import currency_exponent
from timecapture.domain.budgets import Budget, Crossing, Usage, crossings
from timecapture.domain.time_entries import MemberFacts, entry_cost


def half_away_from_zero(value: Fraction) -> int:
    floor = value.numerator // value.denominator
    return floor + 1 if value - floor >= Fraction(1, 2) else floor


@given(
    seconds=st.integers(min_value=1, max_value=86_400),
    rate=st.integers(min_value=0, max_value=10**9),
    currency=st.sampled_from(["JPY", "EUR", "KWD"]),
)
def test_cost_is_exact_hours_times_rate_rounded_once(
    seconds: int, rate: int, currency: str
) -> None:
    member = MemberFacts(archived=False, cost_rate_minor=rate, cost_currency=currency)
    assert currency_exponent(currency) in (0, 2, 3)
    assert entry_cost(seconds, member, currency) == half_away_from_zero(
        Fraction(seconds * rate, 3600)
    )


def test_cost_is_unpriced_without_a_rate_in_the_clients_currency() -> None:
    assert entry_cost(3600, MemberFacts(False, None, None), "EUR") is None
    assert entry_cost(3600, MemberFacts(False, 5000, "USD"), "EUR") is None
    assert entry_cost(1800, MemberFacts(False, 5001, "EUR"), "EUR") == 2501  # 2500.5 -> up


BUDGET = Budget.of(Decimal("10"), 100_000)  # 10 h, 1,000.00


def test_each_threshold_is_crossed_once_on_the_way_up() -> None:
    below = Usage(7 * 3600, 10_000, 0)
    at_80 = Usage(8 * 3600, 10_000, 0)
    over = Usage(11 * 3600, 10_000, 0)
    assert crossings(BUDGET, below, at_80) == [Crossing("hours", 80, 36_000, 8 * 3600)]
    assert crossings(BUDGET, at_80, over) == [Crossing("hours", 100, 36_000, 11 * 3600)]
    assert crossings(BUDGET, over, Usage(12 * 3600, 10_000, 0)) == []
    assert crossings(BUDGET, over, below) == []


def test_amount_budget_counts_cost_and_a_jump_crosses_both() -> None:
    found = crossings(BUDGET, Usage(0, 0, 0), Usage(3600, 120_000, 0))
    assert found == [
        Crossing("amount", 80, 100_000, 120_000),
        Crossing("amount", 100, 100_000, 120_000),
    ]


def test_without_before_every_reached_threshold_is_reported() -> None:
    found = crossings(BUDGET, None, Usage(9 * 3600, 0, 0))
    assert found == [Crossing("hours", 80, 36_000, 9 * 3600)]


@given(
    budget=st.integers(min_value=1, max_value=10**7),
    steps=st.lists(st.integers(min_value=0, max_value=50_000), max_size=30),
)
def test_a_rising_series_reports_each_reached_threshold_exactly_once_in_order(
    budget: int, steps: list[int]
) -> None:
    b = Budget(seconds=budget, amount_minor=None)
    used = 0
    seen: list[int] = []
    for step in steps:
        seen += [c.threshold_percent for c in crossings(b, Usage(used), Usage(used + step))]
        used += step
    assert seen == [t for t in (80, 100) if used * 100 >= budget * t]
