"""Where each cent goes: a payment between its invoice and credit, a balance between invoices."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.domain.credit import allocate
from payments.domain.payments import OverpaymentRefused, apportion

amounts = st.integers(min_value=0, max_value=10**12)


@given(amount=st.integers(min_value=1, max_value=10**12), owed=st.integers(-(10**6), 10**12))
def test_a_payment_is_split_without_a_cent_appearing_or_vanishing(amount: int, owed: int) -> None:
    applied, to_credit = apportion(amount, owed, "credit_balance")
    assert applied + to_credit == amount
    assert 0 <= applied <= max(owed, 0)
    assert to_credit == max(amount - max(owed, 0), 0)


@given(amount=st.integers(min_value=1, max_value=10**12), owed=st.integers(0, 10**12))
def test_reject_refuses_exactly_the_payments_that_would_leave_an_excess(
    amount: int, owed: int
) -> None:
    if amount > owed:
        with pytest.raises(OverpaymentRefused):
            apportion(amount, owed, "reject")
    else:
        assert apportion(amount, owed, "reject") == (amount, 0)


@given(
    balance=amounts,
    owed=st.lists(st.integers(min_value=-100, max_value=10**9), max_size=20),
    cap=st.none() | st.integers(min_value=1, max_value=10**12),
)
def test_a_balance_pays_invoices_in_order_never_past_what_each_owes_or_it_holds(
    balance: int, owed: list[int], cap: int | None
) -> None:
    taken = allocate(balance, owed, cap)
    budget = balance if cap is None else min(balance, cap)
    assert len(taken) == len(owed)
    assert sum(taken) == min(budget, sum(max(o, 0) for o in owed))
    assert all(0 <= t <= max(o, 0) for t, o in zip(taken, owed, strict=True))
    # The oldest first: once an invoice is left short, every later one gets nothing.
    short = [i for i, (t, o) in enumerate(zip(taken, owed, strict=True)) if t < max(o, 0)]
    if short:
        assert all(t == 0 for t in taken[short[0] + 1 :])


def test_allocation_examples() -> None:
    assert allocate(4500, [2000, 3000], None) == [2000, 2500]
    assert allocate(1000, [800, 800], 900) == [800, 100]
    assert allocate(0, [10], None) == [0]
    assert allocate(-5, [10], None) == [0]  # a negative balance spends nothing
