"""The calculation order of every invoice and credit note; the only place totals are made.

1. Billed duration per entry: the raw duration rounded to the project's increment (1, 6, 15
   or 30 minutes), up, down or to the nearest (halves go up).
2. Line quantity: the billed seconds of the line's entries summed, in hours (or days of
   `hours_per_day` hours for daily rates), rounded half-up to 0.01 once. Manual lines give
   their quantity (up to 4 decimals).
3. Line amount = quantity x unit price, rounded half-up to the minor unit once
   (`contracts.money.round_to_minor`).
4. Line discount: a percent of the amount (rounded half-up) or a fixed amount, never more
   than the amount.
5. Invoice discount: a percent of the sum of the lines' amounts after their own discounts
   (rounded half-up; adjustment lines lower the sum), or a fixed amount no larger than that
   sum; allocated to the lines with a positive base pro rata by largest remainder, so the
   shares add up to it exactly.
6. Tax on each line's taxable base (amount - line discount - invoice discount share), at
   the line's rate: `per_line` rounds each line's tax half-up; `per_document` rounds the tax
   of each rate once over the sum of its lines' bases and allocates it back to those lines by
   largest remainder. Zero-rated, exempt and reverse-charge lines carry no tax.
7. Totals are sums of the lines: subtotal = sum of amounts, discount = sum of discounts,
   tax = sum of taxes, total = subtotal - discount + tax.
Negative lines (adjustments) follow the same rules mirrored: rounding is half away from zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Literal
from uuid import UUID

from contracts.money import Money, round_to_minor

RoundingMode = Literal["up", "nearest", "down"]
TaxRounding = Literal["per_line", "per_document"]
Treatment = Literal["standard", "zero_rated", "reverse_charge", "exempt"]
DiscountKind = Literal["percent", "fixed"]

HOUR = Decimal(3600)
QUANTITY_STEP = Decimal("0.01")
_HUNDRED = Decimal(100)


def billed_seconds(raw_seconds: int, increment_minutes: int, mode: RoundingMode) -> int:
    """Step 1: the raw duration rounded to the increment; exact halves round up."""
    if raw_seconds < 0:
        raise ValueError("a duration is never negative")
    step = increment_minutes * 60
    whole, rest = divmod(raw_seconds, step)
    if rest == 0:
        return raw_seconds
    if mode == "up" or (mode == "nearest" and 2 * rest >= step):
        whole += 1
    return whole * step


def hours(seconds: int, hours_per_unit: Decimal = Decimal(1)) -> Decimal:
    """Step 2: seconds as a quantity of `hours_per_unit`-hour units, rounded half-up to 0.01."""
    exact = Decimal(seconds) / (HOUR * hours_per_unit)
    return exact.quantize(QUANTITY_STEP, rounding=ROUND_HALF_UP)


def line_amount(quantity: Decimal, unit_amount_minor: int, currency: str) -> int:
    """Step 3: quantity x unit price, rounded once to the minor unit."""
    unit = Money(unit_amount_minor, currency)
    return unit.multiply(quantity).amount


@dataclass(frozen=True, slots=True)
class Discount:
    kind: DiscountKind
    # Percent (0-100) for `percent`, minor units for `fixed`.
    value: Decimal

    def of(self, base_minor: int, currency: str) -> int:
        """Discount on `base_minor`, never more than it (and zero on a non-positive base)."""
        if base_minor <= 0:
            return 0
        if self.kind == "percent":
            amount = round_to_minor(
                Money(base_minor, currency).to_decimal() * self.value / _HUNDRED, currency
            )
        else:
            amount = int(self.value)
        return min(amount, base_minor)


@dataclass(frozen=True, slots=True)
class Tax:
    rate_id: UUID
    name: str
    percent: Decimal
    treatment: Treatment

    @property
    def charged(self) -> bool:
        return self.treatment == "standard" and self.percent > 0


@dataclass(frozen=True, slots=True)
class LineInput:
    quantity: Decimal
    unit_amount_minor: int
    discount: Discount | None = None
    tax: Tax | None = None
    # Set when the amount was already made by the same rule (time and fee lines): used as is.
    amount_minor: int | None = None


@dataclass(frozen=True, slots=True)
class PricedLine:
    amount_minor: int
    line_discount_minor: int
    invoice_discount_minor: int
    tax_minor: int

    @property
    def discount_minor(self) -> int:
        return self.line_discount_minor + self.invoice_discount_minor

    @property
    def taxable_minor(self) -> int:
        return self.amount_minor - self.discount_minor

    @property
    def total_minor(self) -> int:
        return self.taxable_minor + self.tax_minor


@dataclass(frozen=True, slots=True)
class TaxTotal:
    tax: Tax
    taxable_minor: int
    tax_minor: int


@dataclass(frozen=True, slots=True)
class Priced:
    lines: tuple[PricedLine, ...]
    taxes: tuple[TaxTotal, ...]

    @property
    def subtotal_minor(self) -> int:
        return sum(line.amount_minor for line in self.lines)

    @property
    def discount_minor(self) -> int:
        return sum(line.discount_minor for line in self.lines)

    @property
    def tax_minor(self) -> int:
        return sum(line.tax_minor for line in self.lines)

    @property
    def total_minor(self) -> int:
        return self.subtotal_minor - self.discount_minor + self.tax_minor


def price(
    lines: Sequence[LineInput],
    currency: str,
    *,
    discount: Discount | None = None,
    tax_rounding: TaxRounding = "per_document",
) -> Priced:
    """Steps 3-7 for one document."""
    amounts = [
        line.amount_minor
        if line.amount_minor is not None
        else line_amount(line.quantity, line.unit_amount_minor, currency)
        for line in lines
    ]
    own = [
        line.discount.of(amount, currency) if line.discount else 0
        for line, amount in zip(lines, amounts, strict=True)
    ]
    bases = [amount - d for amount, d in zip(amounts, own, strict=True)]
    shares = _allocate_discount(discount, bases, currency)
    taxable = [base - share for base, share in zip(bases, shares, strict=True)]
    taxes = _taxes(lines, taxable, currency, tax_rounding)
    priced = tuple(
        PricedLine(amount, d, share, tax)
        for amount, d, share, tax in zip(amounts, own, shares, taxes, strict=True)
    )
    return Priced(priced, _tax_totals(lines, taxable, taxes))


def _allocate_discount(discount: Discount | None, bases: list[int], currency: str) -> list[int]:
    # Of the net sum (adjustment lines lower it), spread over the lines that have a base.
    positive = [max(base, 0) for base in bases]
    total = discount.of(sum(bases), currency) if discount else 0
    if total == 0:
        return [0] * len(bases)
    return [part.amount for part in Money(total, currency).allocate(positive)]


def _taxes(
    lines: Sequence[LineInput], taxable: list[int], currency: str, rounding: TaxRounding
) -> list[int]:
    def exact(line: LineInput, base: int) -> Decimal:
        assert line.tax is not None
        return Money(base, currency).to_decimal() * line.tax.percent / _HUNDRED

    taxes = [0] * len(lines)
    charged = [i for i, line in enumerate(lines) if line.tax and line.tax.charged]
    if rounding == "per_line":
        for i in charged:
            taxes[i] = round_to_minor(exact(lines[i], taxable[i]), currency)
        return taxes
    by_rate: dict[UUID, list[int]] = {}
    for i in charged:
        tax = lines[i].tax
        assert tax is not None
        by_rate.setdefault(tax.rate_id, []).append(i)
    for indexes in by_rate.values():
        first = lines[indexes[0]]
        total = round_to_minor(exact(first, sum(taxable[i] for i in indexes)), currency)
        parts = _allocate_signed(total, [taxable[i] for i in indexes])
        for i, part in zip(indexes, parts, strict=True):
            taxes[i] = part
    return taxes


def _allocate_signed(total: int, bases: list[int]) -> list[int]:
    """Split `total` in proportion to bases that may be negative (adjustment lines).

    Each line gets the floor of its exact share, and the leftover units go to the largest
    remainders, so the parts add up to `total` and each is within one unit of its share.
    """
    base_sum = sum(bases)
    if total == 0 or base_sum == 0:
        return [0] * len(bases)
    exact = [Decimal(total) * b / Decimal(base_sum) for b in bases]
    floors = [int(e.to_integral_value(rounding=ROUND_FLOOR)) for e in exact]
    leftover = total - sum(floors)
    order = sorted(range(len(bases)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:leftover]:
        floors[i] += 1
    return floors


def _tax_totals(
    lines: Sequence[LineInput], taxable: list[int], taxes: list[int]
) -> tuple[TaxTotal, ...]:
    totals: dict[UUID, TaxTotal] = {}
    for line, base, tax in zip(lines, taxable, taxes, strict=True):
        if line.tax is None:
            continue
        known = totals.get(line.tax.rate_id)
        totals[line.tax.rate_id] = TaxTotal(
            line.tax,
            (known.taxable_minor if known else 0) + base,
            (known.tax_minor if known else 0) + tax,
        )
    return tuple(totals.values())
