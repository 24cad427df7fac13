"""Payments on the real broker and Postgres, fed the invoice events invoicing publishes."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from contracts.registry import build_event, decode_event
from payments.api import reconciliation as reconciliation_api
from payments.db import payments as payment_rows
from payments.handlers import payments as handlers
from payments.messaging.consumers import on_invoices_issued
from servicekit.db import in_tenant_transaction
from servicekit.testing import eventually, read_topic

from .conftest import CLIENT, Payments, credit_note_event, issued_event, pay, received

pytestmark = pytest.mark.integration


async def test_partial_then_over_payment_puts_each_cent_on_the_invoice_or_in_credit(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    await payments.client(tenant_id)
    invoice_id = await payments.invoice(tenant_id, 10000)
    async with payments.http(tenant_id) as http:
        unknown_client = await http.get(f"/v1/clients/{uuid.uuid4()}/credit-balance")
        first = await http.post("/v1/payments", json=pay(invoice_id, 4000))
        refused = await http.post("/v1/payments", json=pay(invoice_id, 7000, excess="reject"))
        over = await http.post("/v1/payments", json=pay(invoice_id, 7000))
        balance = (await http.get(f"/v1/clients/{CLIENT}/credit-balance")).json()
        listed = await http.get("/v1/payments", params={"invoice_id": str(invoice_id)})
    assert unknown_client.status_code == 404
    assert first.status_code == 201, first.text
    assert (first.json()["applied_minor"], first.json()["to_credit_minor"]) == (4000, 0)
    assert refused.status_code == 409
    assert refused.json()["errors"][0]["pointer"] == "#/amount_minor"
    assert (over.json()["applied_minor"], over.json()["to_credit_minor"]) == (6000, 1000)
    assert balance["balances"] == [{"currency": "EUR", "balance_minor": 1000, "movements": 1}]
    assert len(listed.json()["items"]) == 2  # the refused one wrote nothing
    events = await received(payments, invoice_id, 2)
    assert sorted(e.amount_minor for e in events) == [4000, 6000]


async def test_money_for_a_void_invoice_goes_wholly_to_credit_and_publishes_nothing(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    invoice_id = await payments.invoice(tenant_id, 5000)
    await payments.void(tenant_id, invoice_id)
    async with payments.http(tenant_id) as http:
        r = await http.post("/v1/payments", json=pay(invoice_id, 5000))
        rejected = await http.post("/v1/payments", json=pay(invoice_id, 5000, excess="reject"))
    assert (r.json()["applied_minor"], r.json()["to_credit_minor"]) == (0, 5000)
    assert rejected.status_code == 409
    assert await received(payments, invoice_id, 1) == []


async def test_an_idempotency_key_records_one_payment_for_concurrent_retries(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    invoice_id = await payments.invoice(tenant_id, 9000)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    async with payments.http(tenant_id) as http:
        answers = await asyncio.gather(
            *(http.post("/v1/payments", json=pay(invoice_id, 3000), headers=key) for _ in range(6))
        )
        other = await http.post("/v1/payments", json=pay(invoice_id, 3001), headers=key)
        listed = await http.get("/v1/payments", params={"invoice_id": str(invoice_id)})
    assert {r.status_code for r in answers} == {201}
    assert len({r.json()["id"] for r in answers}) == 1
    assert other.status_code == 422
    assert len(listed.json()["items"]) == 1
    assert len(await received(payments, invoice_id, 2)) == 1


async def test_a_retry_that_its_first_attempt_made_refusable_still_replays_the_first_answer(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    # The retry's own write is refused (the invoice is paid now and excess is "reject"):
    # the key's stored answer wins, and the refusal writes nothing.
    invoice_id = await payments.invoice(tenant_id, 4200)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = pay(invoice_id, 4200, excess="reject")
    async with payments.http(tenant_id) as http:
        first = await http.post("/v1/payments", json=body, headers=key)
        retry = await http.post("/v1/payments", json=body, headers=key)
        unkeyed = await http.post("/v1/payments", json=body)
        listed = await http.get("/v1/payments", params={"invoice_id": str(invoice_id)})
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    assert (retry.status_code, retry.content) == (201, first.content)
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.headers["ETag"] == first.headers["ETag"]
    assert unkeyed.status_code == 409  # what the retry would have been without its key
    assert len(listed.json()["items"]) == 1


async def test_a_refused_keyed_request_stores_nothing_so_its_retry_runs_again(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    invoice_id = uuid.uuid4()  # not issued yet
    key = {"Idempotency-Key": str(uuid.uuid4())}
    used = {"Idempotency-Key": str(uuid.uuid4())}
    async with payments.http(tenant_id) as http:
        early = await http.post("/v1/payments", json=pay(invoice_id, 1500), headers=key)
        await payments.invoice(tenant_id, 1500, invoice_id=invoice_id)
        retry = await http.post("/v1/payments", json=pay(invoice_id, 1500), headers=key)
        first = await http.post("/v1/payments", json=pay(invoice_id, 10), headers=used)
        # Refused on its own (the wrong currency), and its key was used for another body.
        reused = await http.post(
            "/v1/payments", json={**pay(invoice_id, 10), "currency": "USD"}, headers=used
        )
    assert early.status_code == 404
    assert retry.status_code == 201, retry.text
    assert "Idempotent-Replayed" not in retry.headers
    assert first.status_code == 201
    assert reused.status_code == 422
    assert reused.json()["errors"][0]["parameter"] == "Idempotency-Key"


async def test_concurrent_twins_of_an_overpayment_put_its_excess_in_credit_once(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    client_id = uuid.uuid4()
    await payments.client(tenant_id, client_id)
    invoice_id = await payments.invoice(tenant_id, 1000, client_id=client_id)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    async with payments.http(tenant_id) as http:
        answers = await asyncio.gather(
            *(http.post("/v1/payments", json=pay(invoice_id, 1600), headers=key) for _ in range(5))
        )
        balance = (await http.get(f"/v1/clients/{client_id}/credit-balance")).json()
    assert {r.status_code for r in answers} == {201}
    assert len({r.json()["id"] for r in answers}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in answers) == 4
    assert balance["balances"] == [{"currency": "EUR", "balance_minor": 600, "movements": 1}]


async def test_refunds_never_pass_what_was_paid_and_are_published(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    invoice_id = await payments.invoice(tenant_id, 8000)
    async with payments.http(tenant_id) as http:
        payment = (await http.post("/v1/payments", json=pay(invoice_id, 8000))).json()
        url = f"/v1/payments/{payment['id']}/refunds"
        too_much = await http.post(url, json={"amount_minor": 8001})
        part = await http.post(url, json={"amount_minor": 3000, "reason": "goodwill"})
        rest = await http.post(url, json={"amount_minor": 5000})
        none_left = await http.post(url, json={"amount_minor": 1})
        after = (await http.get(f"/v1/payments/{payment['id']}")).json()
        again = await http.post("/v1/payments", json=pay(invoice_id, 8000, excess="reject"))
    assert too_much.status_code == 409
    assert part.status_code == 201, part.text
    assert rest.json()["refunded_minor"] == 8000
    assert none_left.status_code == 409
    assert after["refunded_minor"] == 8000
    assert again.status_code == 201  # refunded money is owed again
    records = await read_topic(
        payments.infra.kafka.bootstrap_servers,
        "payment-refunded",
        lambda r: r.key == str(invoice_id).encode(),
        expected=2,
    )
    assert sorted(decode_event(r.value).payload.amount_minor for r in records) == [3000, 5000]


async def test_settling_a_pending_payment_again_with_its_key_replays_the_answer(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    invoice_id = await payments.invoice(tenant_id, 4000)
    async with payments.http(tenant_id) as http:
        pending = (
            await http.post("/v1/payments", json=pay(invoice_id, 4000, status="pending"))
        ).json()
        url = f"/v1/payments/{pending['id']}"
        key = {"Idempotency-Key": f"settle-{pending['id']}"}
        settled = await http.post(f"{url}/succeed", headers=key)
        # The answer was lost: the retry with the key gets it again, not 409 "not pending".
        retried = await http.post(f"{url}/succeed", headers=key)
        unkeyed = await http.post(f"{url}/succeed")
        other_route = await http.post(f"{url}/fail", headers=key)
    assert settled.status_code == 200, settled.text
    assert (settled.json()["status"], settled.json()["applied_minor"]) == ("succeeded", 4000)
    assert settled.headers["ETag"] == retried.headers["ETag"]
    assert (retried.status_code, retried.json()) == (200, settled.json())
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert unkeyed.status_code == 409
    assert other_route.status_code == 422  # one key, another request
    events = await received(payments, invoice_id, 1)
    assert [e.amount_minor for e in events] == [4000]


async def test_a_payments_refunds_are_listed_newest_first_and_each_is_found_where_its_post_says(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    invoice_id = await payments.invoice(tenant_id, 8000)
    other_invoice = await payments.invoice(tenant_id, 1000)
    async with payments.http(tenant_id) as http:
        payment = (await http.post("/v1/payments", json=pay(invoice_id, 8000))).json()
        other = (await http.post("/v1/payments", json=pay(other_invoice, 1000))).json()
        url = f"/v1/payments/{payment['id']}/refunds"
        first = await http.post(url, json={"amount_minor": 3000, "reason": "goodwill"})
        second = await http.post(url, json={"amount_minor": 2000})
        one = await http.get(first.headers["Location"])
        newest = (await http.get(url, params={"limit": 1})).json()
        rest = (await http.get(url, params={"limit": 1, "cursor": newest["next_cursor"]})).json()
        oldest_first = (await http.get(url, params={"sort": "created_at"})).json()
        none_yet = (await http.get(f"/v1/payments/{other['id']}/refunds")).json()
        refund_id = first.json()["refund_id"]
        elsewhere = await http.get(f"/v1/payments/{other['id']}/refunds/{refund_id}")
        unknown = await http.get(f"/v1/payments/{uuid.uuid4()}/refunds")
        bad_limit = await http.get(url, params={"limit": 0})
    assert first.headers["Location"] == f"{url}/{first.json()['refund_id']}"
    assert one.status_code == 200, one.text
    assert {k: v for k, v in one.json().items() if k not in ("id", "created_at")} == {
        "payment_id": payment["id"],
        "invoice_id": str(invoice_id),
        "amount_minor": 3000,
        "reason": "goodwill",
        "destination": "client",
        "provider": None,
        "provider_refund_id": None,
        "provider_state": None,
    }
    assert [r["id"] for r in newest["items"]] == [second.json()["refund_id"]]
    assert [r["id"] for r in rest["items"]] == [first.json()["refund_id"]]
    assert rest["next_cursor"] is None
    assert [r["amount_minor"] for r in oldest_first["items"]] == [3000, 2000]
    assert none_yet == {"items": [], "next_cursor": None}
    assert elsewhere.status_code == 404
    assert elsewhere.json()["type"].endswith("/refund-not-found")
    assert unknown.status_code == 404
    assert unknown.json()["type"].endswith("/payment-not-found")
    assert bad_limit.status_code == 422


async def test_pending_payments_settle_against_what_is_owed_then(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    invoice_id = await payments.invoice(tenant_id, 6000)
    async with payments.http(tenant_id) as http:
        pending = (
            await http.post("/v1/payments", json=pay(invoice_id, 6000, status="pending"))
        ).json()
        failing = (
            await http.post("/v1/payments", json=pay(invoice_id, 100, status="pending"))
        ).json()
        other = await http.post("/v1/payments", json=pay(invoice_id, 2000))
        settled = await http.post(f"/v1/payments/{pending['id']}/succeed")
        failed = await http.post(f"/v1/payments/{failing['id']}/fail")
        twice = await http.post(f"/v1/payments/{failing['id']}/succeed")
        unknown = await http.post("/v1/payments", json=pay(uuid.uuid4(), 100))
        wrong_currency = await http.post(
            "/v1/payments", json={**pay(invoice_id, 100), "currency": "USD"}
        )
    assert pending["status"] == "pending"
    assert other.json()["applied_minor"] == 2000
    # Settled after the other payment: 4000 was still owed then, 2000 goes to credit.
    assert (settled.json()["applied_minor"], settled.json()["to_credit_minor"]) == (4000, 2000)
    assert failed.json()["status"] == "failed"
    assert twice.status_code == 409
    assert unknown.status_code == 404
    assert [e["pointer"] for e in unknown.json()["errors"]] == ["#/invoice_id"]
    assert wrong_currency.status_code == 422


async def test_a_pending_payment_settled_both_ways_at_once_settles_once(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    invoice_id = await payments.invoice(tenant_id, 5000)
    async with payments.http(tenant_id) as http:
        pending = (
            await http.post("/v1/payments", json=pay(invoice_id, 5000, status="pending"))
        ).json()
        answers = await asyncio.gather(
            *(
                http.post(f"/v1/payments/{pending['id']}/{outcome}")
                for outcome in ("succeed", "fail", "succeed", "fail")
            )
        )
        final = (await http.get(f"/v1/payments/{pending['id']}")).json()
    settled = [a for a in answers if a.status_code == 200]
    assert len(settled) == 1, [a.text for a in answers]
    assert {a.status_code for a in answers if a not in settled} == {409}
    assert final["status"] == settled[0].json()["status"]
    published = await received(payments, invoice_id, expected=2)
    assert len(published) == (1 if final["status"] == "succeeded" else 0)
    assert await payments.paid_minor(tenant_id, invoice_id) == (
        5000 if final["status"] == "succeeded" else 0
    )


async def test_a_credit_note_lowers_what_is_owed_even_when_it_arrives_first(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    invoice_id = uuid.uuid4()
    note = credit_note_event(invoice_id, 2500)
    await payments.publish(tenant_id, "credit_note.issued", note)
    await payments.publish(tenant_id, "credit_note.issued", note)  # redelivered

    async def noted() -> bool:
        found = await payments.infra.fetch_as_tenant(
            "payments",
            tenant_id,
            "SELECT 1 FROM receivable_credits WHERE invoice_id = $1",
            invoice_id,
        )
        return bool(found)

    await eventually(noted, message="credit note kept")
    # The invoice's own event comes after, on its own topic.
    await payments.invoice(tenant_id, 10000, invoice_id=invoice_id)
    async with payments.http(tenant_id) as http:
        over = await http.post("/v1/payments", json=pay(invoice_id, 7501, excess="reject"))
        exact = await http.post("/v1/payments", json=pay(invoice_id, 7500, excess="reject"))
    assert over.status_code == 409  # 10000 - 2500 credited (counted once) = 7500 owed
    assert exact.status_code == 201
    assert exact.json()["applied_minor"] == 7500


async def test_a_void_consumed_before_its_issue_still_sends_the_money_to_credit(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    invoice_id = uuid.uuid4()
    await payments.void(tenant_id, invoice_id)
    await payments.invoice(tenant_id, 5000, invoice_id=invoice_id)
    async with payments.http(tenant_id) as http:
        r = await http.post("/v1/payments", json=pay(invoice_id, 5000))
    assert (r.json()["applied_minor"], r.json()["to_credit_minor"]) == (0, 5000)


async def test_reconciliation_adds_up_invoices_payments_refunds_and_credit(
    payments: Payments, tenant_id: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    await payments.client(tenant_id)
    paid, partly = (
        await payments.invoice(tenant_id, 10000),
        await payments.invoice(tenant_id, 4000),
    )
    async with payments.http(tenant_id) as http:
        first = (await http.post("/v1/payments", json=pay(paid, 12000))).json()
        await http.post("/v1/payments", json=pay(partly, 1000))
        await http.post(f"/v1/payments/{first['id']}/refunds", json={"amount_minor": 500})
        balance = f"/v1/clients/{CLIENT}/credit-balance"
        spent = await http.post(
            balance + "/applications",
            json={"currency": "EUR", "invoice_ids": [str(partly)], "amount_minor": 300},
        )
        spent_id = spent.json()["payments"][0]["id"]
        await http.post(f"/v1/payments/{spent_id}/refunds", json={"amount_minor": 100})
        await http.post(balance + "/refunds", json={"currency": "EUR", "amount_minor": 200})
        today = str(datetime.now(UTC).date())
        report = await http.get(
            "/v1/reconciliation", params={"period_start": today, "period_end": today}
        )
        backwards = await http.get(
            "/v1/reconciliation", params={"period_start": today, "period_end": "2020-01-01"}
        )
    assert report.status_code == 200, report.text
    [row] = report.json()["clients"]
    assert row == {
        "client_id": str(CLIENT),
        "currency": "EUR",
        "invoiced_minor": 14000,
        "credited_minor": 0,
        "paid_minor": 11300,
        "from_credit_minor": 300,
        "refunded_minor": 500,
        "returned_to_credit_minor": 100,
        "to_credit_minor": 2000,
        "credit_paid_out_minor": 200,
        "credit_balance_minor": 2000 - 300 + 100 - 200,
    }
    assert report.json()["mismatches"] == []
    assert report.json()["credit_mismatches"] == []
    assert backwards.status_code == 422
    [error] = backwards.json()["errors"]
    assert (error["parameter"], error["in"], error["detail"]) == (
        "period_end",
        "query",
        "is before period_start",
    )
    # A ledger that no longer adds up is listed (here forced by hand).
    admin = await asyncpg.connect(payments.infra.admin_dsn())
    try:
        await admin.execute(
            "UPDATE payments.receivables SET paid_minor = paid_minor + 1 WHERE invoice_id = $1",
            partly,
        )
        # And a credit ledger: one overpayment movement of the client's loses a cent.
        await admin.execute(
            "UPDATE payments.credit_movements SET amount_minor = amount_minor - 1 WHERE id = "
            "(SELECT id FROM payments.credit_movements WHERE tenant_id = $1 "
            "AND kind = 'overpayment' LIMIT 1)",
            tenant_id,
        )
    finally:
        await admin.close()
    period = {"period_start": today, "period_end": today}
    async with payments.http(tenant_id) as http:
        broken = (await http.get("/v1/reconciliation", params=period)).json()
        monkeypatch.setattr(reconciliation_api, "SHOWN", 0)
        capped = (await http.get("/v1/reconciliation", params=period)).json()
    [mismatch] = broken["mismatches"]
    assert mismatch["invoice_id"] == str(partly)
    assert mismatch["reasons"] == ["paid amount is not payments less refunds"]
    assert broken["more_mismatches"] is False
    [ledger] = broken["credit_mismatches"]
    assert (ledger["client_id"], ledger["overpaid_moved"], ledger["overpaid_paid"]) == (
        str(CLIENT),
        1999,
        2000,
    )
    assert ledger["reasons"] == ["overpayments in the ledger are not what payments sent to credit"]
    assert (capped["mismatches"], capped["more_mismatches"]) == ([], True)


async def test_an_invoice_of_an_earlier_period_is_checked_in_the_period_its_money_moved(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    await payments.client(tenant_id)
    invoice_id = await payments.invoice(tenant_id, 6000)
    issued = datetime.now(UTC) - timedelta(days=40)
    admin = await asyncpg.connect(payments.infra.admin_dsn())
    try:
        # Issued forty days ago; paid today; then its ledger drifts (forced by hand).
        await admin.execute(
            "UPDATE payments.receivables SET issued_at = $2 WHERE invoice_id = $1",
            invoice_id,
            issued,
        )
        async with payments.http(tenant_id) as http:
            paid = await http.post("/v1/payments", json=pay(invoice_id, 6000))
        assert paid.status_code == 201, paid.text
        await admin.execute(
            "UPDATE payments.receivables SET paid_minor = paid_minor - 1 WHERE invoice_id = $1",
            invoice_id,
        )
    finally:
        await admin.close()

    def day(d: datetime) -> dict[str, str]:
        return {"period_start": str(d.date()), "period_end": str(d.date())}

    async with payments.http(tenant_id) as http:
        paid_in = (await http.get("/v1/reconciliation", params=day(datetime.now(UTC)))).json()
        issued_in = (await http.get("/v1/reconciliation", params=day(issued))).json()
        quiet = day(issued + timedelta(days=10))
        neither = (await http.get("/v1/reconciliation", params=quiet)).json()
    assert [m["invoice_id"] for m in paid_in["mismatches"]] == [str(invoice_id)]
    assert [m["invoice_id"] for m in issued_in["mismatches"]] == [str(invoice_id)]
    assert neither["mismatches"] == []


async def test_a_payment_retried_after_its_commit_records_nothing_twice(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    # What the kit's retry does when a connection drops at COMMIT: the same command again.
    invoice_id = await payments.invoice(tenant_id, 3000)
    runtime = payments.runtime
    cmd = handlers.RecordPayment(
        tenant_id=tenant_id,
        payment_id=uuid.uuid4(),
        invoice_id=invoice_id,
        amount_minor=5000,
        currency="EUR",
        method="card",
        received_at=datetime.now(UTC),
        reference=None,
        notes=None,
        status="succeeded",
        excess="credit_balance",
    )
    refund_id = uuid.uuid4()
    for _ in range(2):
        await in_tenant_transaction(
            runtime.require_pool(), tenant_id, lambda c: handlers.record_payment(c, runtime, cmd)
        )
    for _ in range(2):
        await in_tenant_transaction(
            runtime.require_pool(),
            tenant_id,
            lambda c: handlers.refund(c, runtime, cmd.payment_id, 1000, None, refund_id),
        )
    rows = await payments.infra.fetch_as_tenant(
        "payments",
        tenant_id,
        "SELECT (SELECT count(*) FROM payments WHERE invoice_id = $1) AS payments, "
        "(SELECT count(*) FROM refunds WHERE invoice_id = $1) AS refunds, "
        "(SELECT paid_minor FROM receivables WHERE invoice_id = $1) AS paid, "
        "(SELECT coalesce(sum(amount_minor), 0) FROM credit_movements WHERE invoice_id = $1) "
        "AS credit",
        invoice_id,
    )
    assert dict(rows[0]) == {"payments": 1, "refunds": 1, "paid": 2000, "credit": 2000}
    assert len(await received(payments, invoice_id, 2)) == 1


async def test_a_refund_stored_already_is_never_moved_twice(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    """`take_back`'s own guard, under its callers' checks: a second take-back with a stored
    refund's id fails its transaction rather than count the money twice."""
    invoice_id = await payments.invoice(tenant_id, 3000)
    runtime = payments.runtime
    async with payments.http(tenant_id) as http:
        paid = (await http.post("/v1/payments", json=pay(invoice_id, 3000))).json()
    taken = handlers.TakeBack(uuid.uuid4(), 500, None, "client", uuid.uuid4(), uuid.uuid4())

    async def take(conn: Any) -> Any:
        payment = await payment_rows.payment(conn, uuid.UUID(paid["id"]), lock=True)
        assert payment is not None
        return await handlers.take_back(conn, payment, taken, datetime.now(UTC))

    await in_tenant_transaction(runtime.require_pool(), tenant_id, take)
    with pytest.raises(RuntimeError, match="is stored already"):
        await in_tenant_transaction(runtime.require_pool(), tenant_id, take)
    assert await payments.paid_minor(tenant_id, invoice_id) == 2500
    async with payments.http(tenant_id) as http:
        after = (await http.get(f"/v1/payments/{paid['id']}")).json()
    assert after["refunded_minor"] == 500


async def test_a_batch_of_issues_records_each_receivable_once(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    """The consumer's batch path (`on_invoices_issued`): an invoice issued twice in one batch
    (a producer that retried under a new event id) and one already known are kept once."""
    known = await payments.invoice(tenant_id, 700)
    first, second = uuid.uuid4(), uuid.uuid4()

    def envelope(invoice_id: uuid.UUID, total: int) -> Any:
        return build_event(
            "invoice.issued",
            issued_event(invoice_id, total),
            tenant_id=tenant_id,
            producer="invoicing",
            event_id=uuid.uuid4(),
            occurred_at=datetime.now(UTC),
        )

    async def batch(conn: Any) -> None:
        await on_invoices_issued(
            conn,
            [
                envelope(first, 100),
                envelope(known, 999),
                envelope(second, 200),
                envelope(first, 100),
            ],
        )

    await in_tenant_transaction(payments.runtime.require_pool(), tenant_id, batch)

    found = await payments.infra.fetch_as_tenant(
        "payments",
        tenant_id,
        "SELECT invoice_id, total_minor FROM receivables ORDER BY total_minor",
    )
    assert [(r["invoice_id"], r["total_minor"]) for r in found] == [
        (first, 100),
        (second, 200),
        (known, 700),  # the first issue stands
    ]
