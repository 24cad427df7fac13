"""Stripe's amounts into ISO 4217 minor units, with Stripe's own exceptions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.money import CURRENCY_EXPONENTS
from payments.domain.stripe import stripe_exponent, to_minor


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        (1000, "EUR", 1000),  # 10.00 EUR either way
        (500, "JPY", 500),  # zero-decimal in both
        (50000, "ISK", 500),  # Stripe wants ISK times 100; ISO has no minor unit
        (500, "MGA", 50000),  # zero-decimal at Stripe; ISO gives MGA two decimals
        (5120, "KWD", 5120),  # three decimals in both
    ],
)
def test_known_exceptions(amount: int, currency: str, minor: int) -> None:
    assert to_minor(amount, currency) == minor


def test_an_amount_that_is_not_whole_minor_units_or_an_unknown_currency_is_refused() -> None:
    with pytest.raises(ValueError, match="not a whole number"):
        to_minor(50050, "ISK")
    with pytest.raises(ValueError, match="XYZ"):
        to_minor(100, "XYZ")


@given(currency=st.sampled_from(sorted(CURRENCY_EXPONENTS)), minor=st.integers(0, 10**12))
def test_every_currency_converts_back_without_a_cent_lost(currency: str, minor: int) -> None:
    shift = stripe_exponent(currency) - CURRENCY_EXPONENTS[currency]
    if shift >= 0:
        assert to_minor(minor * 10**shift, currency) == minor
    else:  # Stripe's unit is coarser: only whole Stripe units exist
        assert to_minor(minor, currency) == minor * 10**-shift
