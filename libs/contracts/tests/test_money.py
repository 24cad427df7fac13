from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from contracts.money import (
    CURRENCY_EXPONENTS,
    CurrencyCode,
    MixedCurrencyError,
    Money,
    UnknownCurrencyError,
    currency_exponent,
    round_to_minor,
)

# One currency per exponent: 0, 2, 3 and 4.
CURRENCIES = ["JPY", "USD", "KWD", "CLF"]
currencies = st.sampled_from(CURRENCIES)
amounts = st.integers(min_value=-(10**15), max_value=10**15)
weights = st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=12).filter(
    lambda ws: sum(ws) > 0
)


@st.composite
def same_currency(draw: st.DrawFn, n: int) -> list[Money]:
    currency = draw(currencies)
    return [Money(draw(amounts), currency) for _ in range(n)]


@pytest.mark.parametrize(
    ("codes", "exponent"),
    [
        (["JPY", "KRW", "CLP", "VND", "ISK", "XOF", "XAF", "UGX", "PYG"], 0),
        (["USD", "EUR", "GBP", "CHF", "INR", "BRL", "XCG", "ZWG"], 2),
        (["KWD", "BHD", "JOD", "OMR", "TND", "LYD", "IQD"], 3),
        (["CLF", "UYW"], 4),
    ],
)
def test_currency_exponents(codes: list[str], exponent: int) -> None:
    assert [currency_exponent(code) for code in codes] == [exponent] * len(codes)


@pytest.mark.parametrize("code", ["usd", "US", "ABC", "XAU", "XXX", "XTS", ""])
def test_unknown_currency_is_a_value_error(code: str) -> None:
    with pytest.raises(UnknownCurrencyError):
        currency_exponent(code)
    assert issubclass(UnknownCurrencyError, ValueError)


def test_currency_table_is_uppercase_iso_codes() -> None:
    assert all(len(code) == 3 and code.isupper() for code in CURRENCY_EXPONENTS)
    assert set(CURRENCY_EXPONENTS.values()) == {0, 2, 3, 4}


def test_currency_code_type_accepts_only_known_uppercase_codes() -> None:
    adapter = TypeAdapter(CurrencyCode)
    assert adapter.validate_python("KWD") == "KWD"
    for bad in ["usd", "USDX", "ABC", "XAU", 840]:
        with pytest.raises(ValidationError):
            adapter.validate_python(bad)


@pytest.mark.parametrize(
    ("amount", "currency"), [(True, "USD"), (1.0, "USD"), (Decimal(1), "USD"), ("1", "USD")]
)
def test_money_amount_must_be_int(amount: object, currency: str) -> None:
    with pytest.raises(TypeError):
        Money(amount, currency)  # type: ignore[arg-type]


def test_money_currency_must_be_known() -> None:
    with pytest.raises(UnknownCurrencyError):
        Money(1, "usd")


def test_money_is_frozen_and_slotted() -> None:
    money = Money(1, "USD")
    with pytest.raises(dataclasses.FrozenInstanceError):
        money.amount = 2  # type: ignore[misc]
    assert not hasattr(money, "__dict__")


@pytest.mark.parametrize(
    ("major", "currency", "minor"),
    [
        ("0.005", "USD", 1),
        ("-0.005", "USD", -1),
        ("0.0049", "USD", 0),
        ("12.345", "USD", 1235),
        ("-12.345", "USD", -1235),
        ("2.5", "JPY", 3),
        ("-2.5", "JPY", -3),
        ("1.0005", "KWD", 1001),
        ("0.00005", "CLF", 1),
        ("1E+2", "JPY", 100),
        (Decimal("19.99"), "EUR", 1999),
    ],
)
def test_of_rounds_half_away_from_zero(major: Decimal | str, currency: str, minor: int) -> None:
    assert Money.of(major, currency) == Money(minor, currency)


@pytest.mark.parametrize("major", ["abc", "NaN", "Infinity", ""])
def test_of_rejects_non_amounts(major: str) -> None:
    with pytest.raises(ValueError, match="amount"):
        Money.of(major, "USD")


def test_of_rejects_floats() -> None:
    with pytest.raises(TypeError):
        Money.of(0.1, "USD")  # type: ignore[arg-type]


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=6, allow_nan=False), currencies)
def test_round_to_minor_is_within_half_a_minor_unit(value: Decimal, currency: str) -> None:
    exact = value.scaleb(currency_exponent(currency))
    rounded = round_to_minor(value, currency)
    error = abs(Decimal(rounded) - exact)
    assert error <= Decimal("0.5")
    if error == Decimal("0.5"):
        assert abs(rounded) > abs(exact)


@given(amounts, currencies)
def test_to_decimal_round_trips_exactly(amount: int, currency: str) -> None:
    money = Money(amount, currency)
    assert money.to_decimal().scaleb(money.exponent) == amount
    assert Money.of(money.to_decimal(), currency) == money


def test_to_decimal_and_str() -> None:
    assert Money(1234, "USD").to_decimal() == Decimal("12.34")
    assert str(Money(-5, "USD")) == "-0.05 USD"
    assert str(Money(5, "JPY")) == "5 JPY"
    assert str(Money(1001, "KWD")) == "1.001 KWD"


@pytest.mark.parametrize(
    ("money", "factor", "expected"),
    [
        (Money(1000, "USD"), Decimal("0.3333"), 333),
        (Money(5, "USD"), Decimal("0.5"), 3),
        (Money(-5, "USD"), Decimal("0.5"), -3),
        (Money(12000, "EUR"), Decimal("1.5"), 18000),
        (Money(7, "JPY"), 3, 21),
        (Money(1, "KWD"), Decimal("0.5"), 1),
    ],
)
def test_multiply_rounds_once(money: Money, factor: Decimal | int, expected: int) -> None:
    assert money.multiply(factor) == Money(expected, money.currency)


@pytest.mark.parametrize("factor", [1.5, True])
def test_multiply_rejects_floats_and_bools(factor: object) -> None:
    with pytest.raises(TypeError):
        Money(1, "USD").multiply(factor)  # type: ignore[arg-type]


@given(amounts, weights, currencies)
def test_allocate_sums_exactly_within_one_unit_of_pro_rata(
    amount: int, ws: list[int], currency: str
) -> None:
    parts = Money(amount, currency).allocate(ws)
    total = sum(ws)
    assert len(parts) == len(ws)
    assert sum(part.amount for part in parts) == amount
    assert {part.currency for part in parts} == {currency}
    for part, weight in zip(parts, ws, strict=True):
        # |part - amount * weight / total| < 1, in integers.
        assert abs(part.amount * total - amount * weight) < total
        if weight == 0:
            assert part.amount == 0


@given(amounts, weights, currencies)
def test_allocate_negative_mirrors_positive(amount: int, ws: list[int], currency: str) -> None:
    positive = Money(abs(amount), currency).allocate(ws)
    negative = Money(-abs(amount), currency).allocate(ws)
    assert negative == [-part for part in positive]


@pytest.mark.parametrize(
    ("amount", "ws", "expected"),
    [
        (100, [1, 1, 1], [34, 33, 33]),
        (1, [1, 1, 1], [1, 0, 0]),
        (-1, [1, 1], [-1, 0]),
        (5, [0, 1, 0, 1], [0, 3, 0, 2]),
        (10, [1, 2], [3, 7]),
        (0, [3, 1], [0, 0]),
        (-100, [1, 1, 1], [-34, -33, -33]),
    ],
)
def test_allocate_examples(amount: int, ws: list[int], expected: list[int]) -> None:
    assert [part.amount for part in Money(amount, "USD").allocate(ws)] == expected


@pytest.mark.parametrize("ws", [[], [0], [0, 0], [-1, 2]])
def test_allocate_rejects_bad_weights(ws: list[int]) -> None:
    with pytest.raises(ValueError, match="weight"):
        Money(100, "USD").allocate(ws)


def test_allocate_rejects_non_int_weights() -> None:
    with pytest.raises(TypeError):
        Money(100, "USD").allocate([1.5, 1])  # type: ignore[list-item]


def test_split() -> None:
    assert [part.amount for part in Money(1000, "JPY").split(3)] == [334, 333, 333]
    assert Money(-7, "USD").split(1) == [Money(-7, "USD")]
    for n in (0, -1):
        with pytest.raises(ValueError, match="positive"):
            Money(1, "USD").split(n)


@given(same_currency(3))
def test_addition_is_associative_and_commutative(moneys: list[Money]) -> None:
    a, b, c = moneys
    assert (a + b) + c == a + (b + c)
    assert a + b == b + a
    assert a + Money.zero(a.currency) == a


@given(same_currency(2))
def test_subtraction_is_adding_the_negation(moneys: list[Money]) -> None:
    a, b = moneys
    assert a - b == a + (-b)
    assert a - a == Money.zero(a.currency)
    negated = -a
    assert -negated == a
    assert (a < b) == (a.amount < b.amount)
    assert (a <= b) == (a.amount <= b.amount)
    assert (a > b) == (a.amount > b.amount)
    assert (a >= b) == (a.amount >= b.amount)


@given(
    amounts, amounts, st.sampled_from([(a, b) for a in CURRENCIES for b in CURRENCIES if a != b])
)
def test_mixed_currencies_raise(x: int, y: int, pair: tuple[str, str]) -> None:
    a, b = Money(x, pair[0]), Money(y, pair[1])
    for operation in (
        lambda: a + b,
        lambda: a - b,
        lambda: a < b,
        lambda: a <= b,
        lambda: a > b,
        lambda: a >= b,
    ):
        with pytest.raises(MixedCurrencyError):
            operation()
    assert a != b


def test_money_does_not_mix_with_numbers() -> None:
    with pytest.raises(TypeError):
        Money(1, "USD") + 1  # type: ignore[operator]
