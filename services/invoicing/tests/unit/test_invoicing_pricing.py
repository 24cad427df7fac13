"""The calculation order of `invoicing.domain.pricing`, checked against exact fractions."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.money import Money, round_to_minor
from invoicing.domain.pricing import (
    Discount,
    LineInput,
    Priced,
    RoundingMode,
    Tax,
    TaxRounding,
    Treatment,
    billed_seconds,
    hours,
    price,
)

CURRENCIES = ["JPY", "EUR", "KWD"]
TREATMENTS: list[Treatment] = ["standard", "zero_rated", "reverse_charge", "exempt"]
TAX_ROUNDINGS: list[TaxRounding] = ["per_line", "per_document"]
MODES: list[RoundingMode] = ["up", "nearest", "down"]
INCREMENTS = [1, 6, 15, 30]
EXAMPLES = settings(max_examples=100, deadline=None)
PERCENTS = ["0", "2.5", "5", "7.7", "8.875", "19", "20", "25"]


def half_up(value: Fraction) -> int:
    """Round to an integer, halves away from zero."""
    magnitude = int(abs(value) + Fraction(1, 2))
    return magnitude if value >= 0 else -magnitude


def scaled(digits: int, places: int) -> Decimal:
    return Decimal(digits).scaleb(-places)


quantities = st.integers(-2_000_000, 10_000_000).map(lambda n: scaled(n, 4))
unit_prices = st.integers(-100_000, 2_000_000)
percents = st.one_of(
    st.sampled_from(PERCENTS).map(Decimal), st.integers(0, 10_000).map(lambda n: scaled(n, 2))
)
discounts = st.one_of(
    st.none(),
    st.builds(Discount, st.just("percent"), percents),
    st.builds(Discount, st.just("fixed"), st.integers(0, 5_000_000).map(Decimal)),
)


@st.composite
def tax_pools(draw: st.DrawFn) -> list[Tax]:
    size = draw(st.integers(1, 4))
    return [
        Tax(UUID(int=i + 1), f"tax {i}", draw(percents), draw(st.sampled_from(TREATMENTS)))
        for i in range(size)
    ]


@dataclass(frozen=True)
class Document:
    currency: str
    lines: list[LineInput]
    discount: Discount | None
    tax_rounding: TaxRounding

    def priced(self) -> Priced:
        return price(
            self.lines, self.currency, discount=self.discount, tax_rounding=self.tax_rounding
        )


@st.composite
def documents(
    draw: st.DrawFn,
    *,
    tax_rounding: TaxRounding | None = None,
    non_negative: bool = False,
) -> Document:
    pool = draw(tax_pools())
    line = st.builds(
        LineInput,
        quantity=quantities.map(abs) if non_negative else quantities,
        unit_amount_minor=unit_prices.map(abs) if non_negative else unit_prices,
        discount=discounts,
        tax=st.none() | st.sampled_from(pool),
        amount_minor=st.none() | st.integers(0 if non_negative else -1_000_000, 100_000_000),
    )
    rounding = draw(st.sampled_from(TAX_ROUNDINGS)) if tax_rounding is None else tax_rounding
    return Document(
        currency=draw(st.sampled_from(CURRENCIES)),
        lines=draw(st.lists(line, min_size=1, max_size=12)),
        discount=draw(discounts),
        tax_rounding=rounding,
    )


def expected_amount(line: LineInput, currency: str) -> int:
    if line.amount_minor is not None:
        return line.amount_minor
    unit_major = Money(line.unit_amount_minor, currency).to_decimal()
    return round_to_minor(line.quantity * unit_major, currency)


def expected_discount(discount: Discount | None, base: int) -> int:
    """Step 4/5 by hand: percent rounded half-up, never more than a positive base."""
    if discount is None or base <= 0:
        return 0
    if discount.kind == "percent":
        return min(base, half_up(Fraction(base) * Fraction(discount.value) / 100))
    return min(base, int(discount.value))


def bases(priced: Priced) -> list[int]:
    return [p.amount_minor - p.line_discount_minor for p in priced.lines]


def charged(tax: Tax | None) -> bool:
    return tax is not None and tax.treatment == "standard" and tax.percent > 0


@EXAMPLES
@given(documents())
def test_totals_are_the_sums_of_the_lines(doc: Document) -> None:
    priced = doc.priced()

    assert len(priced.lines) == len(doc.lines)
    assert priced.subtotal_minor == sum(p.amount_minor for p in priced.lines)
    assert priced.discount_minor == sum(
        p.line_discount_minor + p.invoice_discount_minor for p in priced.lines
    )
    assert priced.tax_minor == sum(p.tax_minor for p in priced.lines)
    assert priced.total_minor == priced.subtotal_minor - priced.discount_minor + priced.tax_minor
    assert priced.total_minor == sum(
        p.amount_minor - p.line_discount_minor - p.invoice_discount_minor + p.tax_minor
        for p in priced.lines
    )


@EXAMPLES
@given(documents())
def test_line_amount_is_quantity_times_unit_price_rounded_once(doc: Document) -> None:
    priced = doc.priced()

    for line, p in zip(doc.lines, priced.lines, strict=True):
        assert p.amount_minor == expected_amount(line, doc.currency)
        if line.amount_minor is None:
            exact_minor = Fraction(line.quantity) * line.unit_amount_minor
            assert p.amount_minor == half_up(exact_minor)


@EXAMPLES
@given(documents())
def test_line_discount_is_its_own_rounded_discount_never_above_the_amount(doc: Document) -> None:
    priced = doc.priced()

    for line, p in zip(doc.lines, priced.lines, strict=True):
        assert 0 <= p.line_discount_minor <= max(p.amount_minor, 0)
        assert p.line_discount_minor == expected_discount(line.discount, p.amount_minor)


@EXAMPLES
@given(documents())
def test_invoice_discount_shares_add_up_and_never_overdraw_a_line(doc: Document) -> None:
    priced = doc.priced()
    line_bases = bases(priced)
    shares = [p.invoice_discount_minor for p in priced.lines]
    positive = [max(b, 0) for b in line_bases]
    total = sum(shares)

    assert 0 <= total <= sum(positive)
    if doc.discount is None:
        assert total == 0
    for base, share in zip(line_bases, shares, strict=True):
        assert share >= 0
        assert share <= max(base, 0)
        if base <= 0:
            assert share == 0
        else:
            assert abs(share - Fraction(total * base, sum(positive))) < 1


@EXAMPLES
@given(documents(non_negative=True))
def test_invoice_discount_is_taken_of_the_lines_after_their_own_discounts(doc: Document) -> None:
    priced = doc.priced()

    shares = sum(p.invoice_discount_minor for p in priced.lines)
    assert shares == expected_discount(doc.discount, sum(bases(priced)))


def test_fixed_invoice_discount_is_no_larger_than_the_net_sum_with_an_adjustment_line() -> None:
    # Step 5: "a fixed amount no larger than that sum" (the lines after their own discounts).
    lines = [LineInput(Decimal(1), 1000), LineInput(Decimal(1), -900)]

    priced = price(lines, "EUR", discount=Discount("fixed", Decimal(500)))

    assert priced.subtotal_minor == 100
    assert sum(p.invoice_discount_minor for p in priced.lines) == 100
    assert priced.total_minor == 0


def test_percent_invoice_discount_is_of_the_net_sum_with_an_adjustment_line() -> None:
    # Step 5: "a percent of the sum of the lines' amounts after their own discounts".
    lines = [LineInput(Decimal(1), 1000), LineInput(Decimal(1), -500)]

    priced = price(lines, "EUR", discount=Discount("percent", Decimal(10)))

    assert sum(p.invoice_discount_minor for p in priced.lines) == 50
    assert priced.total_minor == 450


@EXAMPLES
@given(documents(tax_rounding="per_document"))
def test_per_document_tax_is_rounded_once_per_rate(doc: Document) -> None:
    priced = doc.priced()
    by_rate: dict[UUID, list[int]] = defaultdict(list)
    for i, line in enumerate(doc.lines):
        if line.tax is not None and charged(line.tax):
            by_rate[line.tax.rate_id].append(i)

    for indexes in by_rate.values():
        tax = doc.lines[indexes[0]].tax
        assert tax is not None
        base_sum = sum(priced.lines[i].taxable_minor for i in indexes)
        rounded = half_up(Fraction(base_sum) * Fraction(tax.percent) / 100)
        assert sum(priced.lines[i].tax_minor for i in indexes) == rounded
        for i in indexes:
            if base_sum == 0:
                assert priced.lines[i].tax_minor == 0
            else:
                exact = Fraction(rounded * priced.lines[i].taxable_minor, base_sum)
                assert abs(priced.lines[i].tax_minor - exact) < 1


@EXAMPLES
@given(documents(tax_rounding="per_line"))
def test_per_line_tax_is_each_lines_own_rounded_tax(doc: Document) -> None:
    priced = doc.priced()

    for line, p in zip(doc.lines, priced.lines, strict=True):
        if line.tax is not None and charged(line.tax):
            assert p.tax_minor == half_up(
                Fraction(p.taxable_minor) * Fraction(line.tax.percent) / 100
            )


@EXAMPLES
@given(documents())
def test_uncharged_lines_carry_no_tax(doc: Document) -> None:
    priced = doc.priced()

    for line, p in zip(doc.lines, priced.lines, strict=True):
        if not charged(line.tax):
            assert p.tax_minor == 0


@EXAMPLES
@given(documents())
def test_tax_totals_are_the_sums_of_their_lines(doc: Document) -> None:
    priced = doc.priced()
    taxable: dict[UUID, int] = defaultdict(int)
    tax: dict[UUID, int] = defaultdict(int)
    for line, p in zip(doc.lines, priced.lines, strict=True):
        if line.tax is not None:
            taxable[line.tax.rate_id] += p.taxable_minor
            tax[line.tax.rate_id] += p.tax_minor

    assert {t.tax.rate_id: t.taxable_minor for t in priced.taxes} == taxable
    assert {t.tax.rate_id: t.tax_minor for t in priced.taxes} == tax
    assert sum(t.tax_minor for t in priced.taxes) == priced.tax_minor


@pytest.mark.parametrize(
    ("currency", "quantity", "unit_minor", "amount"),
    [
        ("EUR", "0.5", 1, 1),
        ("EUR", "-0.5", 1, -1),
        ("EUR", "0.4999", 1, 0),
        ("JPY", "2.5", 1, 3),
        ("JPY", "-2.5", 1, -3),
        ("KWD", "0.0005", 1000, 1),
        ("KWD", "1.2345", 10, 12),
        ("EUR", "1.005", 100, 101),
    ],
)
def test_line_amount_rounds_halves_away_from_zero(
    currency: str, quantity: str, unit_minor: int, amount: int
) -> None:
    priced = price([LineInput(Decimal(quantity), unit_minor)], currency)

    assert priced.lines[0].amount_minor == amount


def test_per_document_rounds_once_where_per_line_rounds_each_line() -> None:
    vat = Tax(UUID(int=1), "VAT", Decimal(19), "standard")
    lines = [LineInput(Decimal(1), 3, tax=vat) for _ in range(3)]

    per_line = price(lines, "EUR", tax_rounding="per_line")
    per_document = price(lines, "EUR", tax_rounding="per_document")

    assert [p.tax_minor for p in per_line.lines] == [1, 1, 1]
    assert per_document.tax_minor == 2
    assert sorted(p.tax_minor for p in per_document.lines) == [0, 1, 1]


@pytest.mark.parametrize("treatment", ["zero_rated", "reverse_charge", "exempt"])
def test_non_standard_treatments_carry_no_tax(treatment: Treatment) -> None:
    tax = Tax(UUID(int=1), "VAT", Decimal(20), treatment)

    priced = price([LineInput(Decimal(3), 10_000, tax=tax)], "EUR")

    assert priced.tax_minor == 0
    assert priced.taxes[0].taxable_minor == 30_000


@settings(max_examples=300)
@given(st.integers(0, 10**6), st.sampled_from(INCREMENTS))
def test_billed_seconds_are_the_raw_duration_rounded_to_the_increment(
    raw: int, increment: int
) -> None:
    step = increment * 60
    up, nearest, down = (billed_seconds(raw, increment, mode) for mode in MODES)

    for billed in (up, nearest, down):
        assert billed % step == 0
    assert down <= raw <= up
    assert up - down == (0 if raw % step == 0 else step)
    assert down <= nearest <= up
    assert abs(nearest - raw) <= step / 2
    if 2 * (raw - down) == step:
        assert nearest == up


@settings(max_examples=100)
@given(st.integers(0, 10_000), st.sampled_from(INCREMENTS), st.sampled_from(MODES))
def test_exact_multiples_of_the_increment_are_unchanged(
    units: int, increment: int, mode: RoundingMode
) -> None:
    raw = units * increment * 60

    assert billed_seconds(raw, increment, mode) == raw


@pytest.mark.parametrize(
    ("raw", "increment", "mode", "billed"),
    [
        (450, 15, "nearest", 900),
        (449, 15, "nearest", 0),
        (1, 6, "up", 360),
        (359, 6, "down", 0),
        (0, 30, "up", 0),
        (61, 1, "nearest", 60),
        (90, 1, "nearest", 120),
    ],
)
def test_billed_seconds_examples(raw: int, increment: int, mode: RoundingMode, billed: int) -> None:
    assert billed_seconds(raw, increment, mode) == billed


@pytest.mark.parametrize("mode", MODES)
def test_a_negative_duration_is_refused(mode: RoundingMode) -> None:
    with pytest.raises(ValueError, match="never negative"):
        billed_seconds(-1, 15, mode)


@settings(max_examples=300)
@given(st.integers(0, 10**8), st.sampled_from(["1", "7.5", "8", "24"]).map(Decimal))
def test_hours_are_quantized_to_a_hundredth_within_half_of_it(
    seconds: int, hours_per_unit: Decimal
) -> None:
    quantity = hours(seconds, hours_per_unit)
    exact = Fraction(seconds) / (3600 * Fraction(hours_per_unit))

    assert quantity.as_tuple().exponent == -2
    assert abs(Fraction(quantity) - exact) <= Fraction(1, 200)
    assert quantity == Decimal(half_up(exact * 100)) / 100


@pytest.mark.parametrize(
    ("seconds", "hours_per_unit", "quantity"),
    [
        (18, "1", "0.01"),
        (17, "1", "0.00"),
        (3600, "1", "1.00"),
        (5400, "1", "1.50"),
        (27_000, "7.5", "1.00"),
        (135, "7.5", "0.01"),
    ],
)
def test_hours_round_half_up(seconds: int, hours_per_unit: str, quantity: str) -> None:
    assert hours(seconds, Decimal(hours_per_unit)) == Decimal(quantity)
