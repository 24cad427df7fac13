"""Property: whatever payments, refunds, credit applications and payouts happen, in whatever
order, every cent that came in is on exactly one invoice, in the credit balance, or went back
out, and no invoice holds more than it costs. Run on the real service and Postgres."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import CLIENT, Payments, pay

pytestmark = pytest.mark.integration
TOTALS = (1000, 2500, 400)

ops = st.lists(
    st.one_of(
        st.tuples(st.just("pay"), st.integers(0, 2), st.integers(1, 3000)),
        st.tuples(st.just("pay_exact"), st.integers(0, 2), st.integers(1, 3000)),
        st.tuples(st.just("refund"), st.integers(0, 20), st.integers(1, 2000)),
        st.tuples(st.just("apply"), st.integers(0, 2), st.integers(1, 3000)),
        st.tuples(st.just("payout"), st.integers(0, 0), st.integers(1, 1500)),
    ),
    min_size=1,
    max_size=12,
)


async def _run(http: Any, invoices: list[uuid.UUID], op: tuple[str, int, int]) -> None:
    kind, which, amount = op
    balance = f"/v1/clients/{CLIENT}/credit-balance"
    if kind in ("pay", "pay_exact"):
        excess = "reject" if kind == "pay_exact" else "credit_balance"
        r = await http.post("/v1/payments", json=pay(invoices[which], amount, excess=excess))
    elif kind == "refund":
        made = (await http.get("/v1/payments", params={"limit": 100})).json()["items"]
        if not made:
            return
        target = made[which % len(made)]
        r = await http.post(f"/v1/payments/{target['id']}/refunds", json={"amount_minor": amount})
    elif kind == "apply":
        r = await http.post(
            balance + "/applications",
            json={"currency": "EUR", "invoice_ids": [str(invoices[which])], "amount_minor": amount},
        )
    else:
        r = await http.post(balance + "/refunds", json={"currency": "EUR", "amount_minor": amount})
    # Refusals are fine (more than owed, more than held); a server error never is.
    assert r.status_code in (201, 409), (op, r.text)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=ops)
async def test_every_cent_is_on_one_invoice_in_credit_or_gone_back(
    payments: Payments, sequence: list[tuple[str, int, int]]
) -> None:
    tenant_id = uuid.uuid4()
    await payments.client(tenant_id)
    invoices = [await payments.invoice(tenant_id, total) for total in TOTALS]
    async with payments.http(tenant_id) as http:
        for op in sequence:
            await _run(http, invoices, op)
        rec = await http.get(
            "/v1/reconciliation", params={"period_start": "2020-01-01", "period_end": "2099-12-31"}
        )
    [money] = await payments.infra.fetch_as_tenant(
        "payments",
        tenant_id,
        """SELECT
            (SELECT coalesce(sum(amount_minor), 0) FROM payments
                WHERE status = 'succeeded' AND method <> 'credit_balance') AS came_in,
            (SELECT coalesce(sum(amount_minor), 0) FROM refunds
                WHERE destination = 'client') AS refunded,
            (SELECT coalesce(-sum(amount_minor), 0) FROM credit_movements
                WHERE kind = 'refunded') AS paid_out,
            (SELECT coalesce(sum(paid_minor), 0) FROM receivables) AS on_invoices,
            (SELECT coalesce(sum(amount_minor), 0) FROM credit_movements) AS credit,
            (SELECT count(*) FROM receivables WHERE paid_minor > total_minor
                OR paid_minor < 0) AS overpaid_invoices""",
    )
    assert money["came_in"] - money["refunded"] - money["paid_out"] == (
        money["on_invoices"] + money["credit"]
    ), (sequence, dict(money))
    assert money["credit"] >= 0, sequence
    assert money["overpaid_invoices"] == 0, sequence
    assert rec.json()["mismatches"] == [], sequence
