"""Money as an integer count of minor units plus an ISO 4217 currency code.

The currency's exponent decides the minor unit (JPY 0, USD 2, KWD 3, CLF 4). Amounts are
never floats.

Rounding rule: money is rounded half-up, meaning half away from zero
(`decimal.ROUND_HALF_UP`: 0.005 USD -> 0.01, -0.005 USD -> -0.01), to the currency's minor
unit, exactly once at each conversion from a `Decimal` to `Money`. `round_to_minor` is the
only place this happens; `Money.of` and `Money.multiply` go through it, and `allocate` never
rounds because it hands out whole minor units.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import (
    MAX_EMAX,
    MAX_PREC,
    MIN_EMIN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)
from types import MappingProxyType
from typing import Annotated, Final

from pydantic import AfterValidator, Field, StringConstraints

__all__ = [
    "CURRENCY_EXPONENTS",
    "MAX_MINOR",
    "CurrencyCode",
    "MixedCurrencyError",
    "Money",
    "UnknownCurrencyError",
    "currency_exponent",
    "round_to_minor",
]

MAX_MINOR: Final = 10**15
"""The largest amount an API or a provider may hand us, in minor units (ten trillion euros):
sums of thousands of such amounts still fit a bigint (9.2 x 10^18)."""

# ISO 4217 list one as published 2026-01-01, code -> minor-unit exponent. Codes whose minor
# unit is "N.A." (XAU, XAG, XPD, XPT, XBA-XBD, XDR, XSU, XUA, XTS, XXX) are not money here.
# A code withdrawn by ISO later must stay: events already written with it have to decode.
CURRENCY_EXPONENTS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "AED": 2, "AFN": 2, "ALL": 2, "AMD": 2, "AOA": 2, "ARS": 2, "AUD": 2, "AWG": 2,
        "AZN": 2, "BAM": 2, "BBD": 2, "BDT": 2, "BHD": 3, "BIF": 0, "BMD": 2, "BND": 2,
        "BOB": 2, "BOV": 2, "BRL": 2, "BSD": 2, "BTN": 2, "BWP": 2, "BYN": 2, "BZD": 2,
        "CAD": 2, "CDF": 2, "CHE": 2, "CHF": 2, "CHW": 2, "CLF": 4, "CLP": 0, "CNY": 2,
        "COP": 2, "COU": 2, "CRC": 2, "CUP": 2, "CVE": 2, "CZK": 2, "DJF": 0, "DKK": 2,
        "DOP": 2, "DZD": 2, "EGP": 2, "ERN": 2, "ETB": 2, "EUR": 2, "FJD": 2, "FKP": 2,
        "GBP": 2, "GEL": 2, "GHS": 2, "GIP": 2, "GMD": 2, "GNF": 0, "GTQ": 2, "GYD": 2,
        "HKD": 2, "HNL": 2, "HTG": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2, "IQD": 3,
        "IRR": 2, "ISK": 0, "JMD": 2, "JOD": 3, "JPY": 0, "KES": 2, "KGS": 2, "KHR": 2,
        "KMF": 0, "KPW": 2, "KRW": 0, "KWD": 3, "KYD": 2, "KZT": 2, "LAK": 2, "LBP": 2,
        "LKR": 2, "LRD": 2, "LSL": 2, "LYD": 3, "MAD": 2, "MDL": 2, "MGA": 2, "MKD": 2,
        "MMK": 2, "MNT": 2, "MOP": 2, "MRU": 2, "MUR": 2, "MVR": 2, "MWK": 2, "MXN": 2,
        "MXV": 2, "MYR": 2, "MZN": 2, "NAD": 2, "NGN": 2, "NIO": 2, "NOK": 2, "NPR": 2,
        "NZD": 2, "OMR": 3, "PAB": 2, "PEN": 2, "PGK": 2, "PHP": 2, "PKR": 2, "PLN": 2,
        "PYG": 0, "QAR": 2, "RON": 2, "RSD": 2, "RUB": 2, "RWF": 0, "SAR": 2, "SBD": 2,
        "SCR": 2, "SDG": 2, "SEK": 2, "SGD": 2, "SHP": 2, "SLE": 2, "SOS": 2, "SRD": 2,
        "SSP": 2, "STN": 2, "SVC": 2, "SYP": 2, "SZL": 2, "THB": 2, "TJS": 2, "TMT": 2,
        "TND": 3, "TOP": 2, "TRY": 2, "TTD": 2, "TWD": 2, "TZS": 2, "UAH": 2, "UGX": 0,
        "USD": 2, "USN": 2, "UYI": 0, "UYU": 2, "UYW": 4, "UZS": 2, "VED": 2, "VES": 2,
        "VND": 0, "VUV": 0, "WST": 2, "XAD": 2, "XAF": 0, "XCD": 2, "XCG": 2, "XOF": 0,
        "XPF": 0, "YER": 2, "ZAR": 2, "ZMW": 2, "ZWG": 2,
    }
)  # fmt: skip

# Enough precision that scaling and multiplying minor-unit amounts never rounds silently.
_EXACT: Final = Context(
    prec=MAX_PREC,
    Emax=MAX_EMAX,
    Emin=MIN_EMIN,
    rounding=ROUND_HALF_UP,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)


class UnknownCurrencyError(ValueError):
    """The code is not an ISO 4217 currency with a minor unit."""


class MixedCurrencyError(ValueError):
    """An operation combined amounts in different currencies."""


def currency_exponent(code: str) -> int:
    """Number of decimal places of the currency's minor unit (USD 2, JPY 0, KWD 3)."""
    try:
        return CURRENCY_EXPONENTS[code]
    except (KeyError, TypeError):
        raise UnknownCurrencyError(f"unknown ISO 4217 currency code: {code!r}") from None


def round_to_minor(value: Decimal, currency: str) -> int:
    """Convert a major-unit amount to minor units, rounding half away from zero.

    This is the single place where money is rounded.
    """
    if not isinstance(value, Decimal):
        raise TypeError(f"expected Decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {value}")
    scaled = value.scaleb(currency_exponent(currency), context=_EXACT)
    return int(scaled.to_integral_value(rounding=ROUND_HALF_UP, context=_EXACT))


def _check_currency_code(code: str) -> str:
    currency_exponent(code)
    return code


CurrencyCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    Field(examples=["EUR"]),
    AfterValidator(_check_currency_code),
]
"""An uppercase ISO 4217 alphabetic code known to `CURRENCY_EXPONENTS`, for pydantic models."""


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in minor units of one currency; arithmetic never mixes currencies."""

    amount: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError(f"amount must be an int of minor units, got {self.amount!r}")
        currency_exponent(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Zero in the given currency."""
        return cls(0, currency)

    @classmethod
    def of(cls, major: Decimal | str, currency: str) -> Money:
        """Money from a major-unit amount (`"12.345"` USD -> 1235 cents), rounded once."""
        if isinstance(major, str):
            try:
                major = Decimal(major)
            except InvalidOperation:
                raise ValueError(f"not a decimal amount: {major!r}") from None
        return cls(round_to_minor(major, currency), currency)

    @property
    def exponent(self) -> int:
        """Decimal places of this currency's minor unit."""
        return currency_exponent(self.currency)

    def to_decimal(self) -> Decimal:
        """The amount in major units, exactly (1234 cents -> Decimal("12.34"))."""
        return Decimal(self.amount).scaleb(-self.exponent, context=_EXACT)

    def multiply(self, factor: Decimal | int) -> Money:
        """The amount times `factor`, rounded once to the minor unit."""
        if isinstance(factor, bool) or not isinstance(factor, Decimal | int):
            raise TypeError(f"factor must be a Decimal or int, got {type(factor).__name__}")
        if isinstance(factor, int):
            return Money(self.amount * factor, self.currency)
        return Money.of(_EXACT.multiply(self.to_decimal(), factor), self.currency)

    def allocate(self, weights: Sequence[int]) -> list[Money]:
        """Split by integer weights with the largest-remainder method.

        Parts sum exactly to this amount and each differs from its exact pro-rata share by
        less than one minor unit. Leftover units go to the largest remainders, earliest index
        first on ties; a negative amount is allocated as the mirror image of its absolute value.
        """
        if not weights:
            raise ValueError("allocate needs at least one weight")
        if any(isinstance(w, bool) or not isinstance(w, int) for w in weights):
            raise TypeError("weights must be ints")
        if any(w < 0 for w in weights):
            raise ValueError("weights must not be negative")
        total = sum(weights)
        if total == 0:
            raise ValueError("weights must not all be zero")
        sign = -1 if self.amount < 0 else 1
        magnitude = abs(self.amount)
        shares = [divmod(magnitude * w, total) for w in weights]
        parts = [quotient for quotient, _ in shares]
        leftover = magnitude - sum(parts)
        by_remainder = sorted(range(len(weights)), key=lambda i: (-shares[i][1], i))
        for i in by_remainder[:leftover]:
            parts[i] += 1
        return [Money(sign * part, self.currency) for part in parts]

    def split(self, n: int) -> list[Money]:
        """Split into `n` parts as equal as possible, earlier parts taking the extra units."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"split needs a positive int, got {n!r}")
        return self.allocate([1] * n)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise MixedCurrencyError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.amount >= other.amount

    def __str__(self) -> str:
        return f"{self.to_decimal():f} {self.currency}"
