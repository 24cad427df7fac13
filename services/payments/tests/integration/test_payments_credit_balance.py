"""Credit balances on the real broker and Postgres: spent on invoices, given back, paid out."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime

import asyncpg
import pytest

from contracts.events.clients import ClientState
from contracts.registry import decode_event
from payments.handlers import credit
from servicekit.db import in_tenant_transaction
from servicekit.testing import eventually, read_topic

from .conftest import CLIENT, Payments, credit_note_event, pay, received, voided_event

pytestmark = pytest.mark.integration
BALANCE = f"/v1/clients/{CLIENT}/credit-balance"


async def credit_of(payments: Payments, tenant_id: uuid.UUID, amount: int) -> uuid.UUID:
    """A paid invoice whose overpayment left `amount` of credit."""
    invoice_id = await payments.invoice(tenant_id, 1000)
    async with payments.http(tenant_id) as http:
        r = await http.post("/v1/payments", json=pay(invoice_id, 1000 + amount))
    assert r.json()["to_credit_minor"] == amount, r.text
    return invoice_id


async def balance_of(payments: Payments, tenant_id: uuid.UUID) -> int:
    async with payments.http(tenant_id) as http:
        found = (await http.get(BALANCE)).json()["balances"]
    return sum(b["balance_minor"] for b in found if b["currency"] == "EUR")


async def applying_to_one_invoice(
    payments: Payments, tenant_id: uuid.UUID, *, credit_minor: int, owed: int
) -> tuple[uuid.UUID, credit.ApplyCredit]:
    """A client with `credit_minor` of credit and an invoice owing `owed`, and the command
    applying that credit to it (what the kit's retry repeats when a COMMIT is lost)."""
    await payments.client(tenant_id)
    await credit_of(payments, tenant_id, credit_minor)
    invoice_id = await payments.invoice(tenant_id, owed)
    return invoice_id, credit.ApplyCredit(
        tenant_id=tenant_id,
        application_id=uuid.uuid4(),
        client_id=CLIENT,
        currency="EUR",
        invoice_ids=(invoice_id,),
        cap_minor=None,
    )


async def test_credit_pays_the_oldest_due_invoices_first_and_is_published(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    await payments.client(tenant_id)
    await credit_of(payments, tenant_id, 4500)
    later = await payments.invoice(tenant_id, 3000, due=date(2026, 11, 1))
    sooner = await payments.invoice(tenant_id, 2000, due=date(2026, 10, 1))
    async with payments.http(tenant_id) as http:
        applied = await http.post(BALANCE + "/applications", json={"currency": "EUR"})
        again = await http.post(BALANCE + "/applications", json={"currency": "EUR"})
        assert applied.status_code == 201, applied.text
        fetched = await http.get(applied.headers["location"])
        ledger = (await http.get(BALANCE + "/movements", params={"sort": "created_at"})).json()
        owed = await http.post("/v1/payments", json=pay(later, 600, excess="reject"))
    assert applied.status_code == 201, applied.text
    body = applied.json()
    assert (body["applied_minor"], body["balance_minor"]) == (4500, 0)
    assert [(p["invoice_id"], p["amount_minor"]) for p in body["payments"]] == [
        (str(sooner), 2000),
        (str(later), 2500),
    ]
    assert {p["method"] for p in body["payments"]} == {"credit_balance"}
    assert {p["credit_application_id"] for p in body["payments"]} == {body["id"]}
    assert fetched.json() == body
    assert again.status_code == 409
    assert again.json()["type"].endswith("/nothing-to-apply")
    assert [(m["kind"], m["amount_minor"]) for m in ledger["items"]] == [
        ("overpayment", 4500),
        ("applied", -2000),
        ("applied", -2500),
    ]
    # `later` still owes 500: a payment of 600 with excess=reject is refused.
    assert owed.status_code == 409
    events = await received(payments, later, 1)
    assert [(e.amount_minor, e.method.value) for e in events] == [(2500, "credit_balance")]


async def test_named_invoices_and_a_cap_and_every_wrong_request_writes_nothing(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    await payments.client(tenant_id)
    other_client = uuid.uuid4()
    await payments.client(tenant_id, other_client)
    await credit_of(payments, tenant_id, 1000)
    first = await payments.invoice(tenant_id, 800)
    second = await payments.invoice(tenant_id, 800)
    dollars = await payments.invoice(tenant_id, 800, currency="USD")
    theirs = await payments.invoice(tenant_id, 800, client_id=other_client)
    url = BALANCE + "/applications"
    async with payments.http(tenant_id) as http:
        unknown_client = await http.post(
            f"/v1/clients/{uuid.uuid4()}/credit-balance/applications", json={"currency": "EUR"}
        )
        foreign = await http.post(
            url, json={"currency": "EUR", "invoice_ids": [str(first), str(theirs)]}
        )
        currency = await http.post(url, json={"currency": "EUR", "invoice_ids": [str(dollars)]})
        twice = await http.post(
            url, json={"currency": "EUR", "invoice_ids": [str(first), str(second), str(first)]}
        )
        no_balance = await http.post(url, json={"currency": "USD"})
        async with payments.http(tenant_id, "viewer") as as_viewer:
            viewer = await as_viewer.post(url, json={"currency": "EUR"})
        before = await balance_of(payments, tenant_id)
        capped = await http.post(
            url,
            json={"currency": "EUR", "invoice_ids": [str(second), str(first)], "amount_minor": 900},
        )
    assert unknown_client.status_code == 404
    assert foreign.status_code == 404
    assert foreign.json()["errors"][0]["pointer"] == "#/invoice_ids/1"
    assert currency.status_code == 422
    assert currency.json()["errors"][0]["pointer"] == "#/invoice_ids/0"
    assert twice.status_code == 422  # named twice, it would be paid twice what it owes
    assert twice.json()["errors"][0]["pointer"] == "#/invoice_ids/2"
    assert no_balance.status_code == 409
    assert viewer.status_code == 403
    assert before == 1000  # nothing refused moved a cent
    assert capped.status_code == 201, capped.text
    assert [(p["invoice_id"], p["amount_minor"]) for p in capped.json()["payments"]] == [
        (str(second), 800),
        (str(first), 100),
    ]
    assert capped.json()["balance_minor"] == 100


async def test_refunding_a_credit_payment_refills_the_balance_and_payouts_empty_it(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    await payments.client(tenant_id)
    await credit_of(payments, tenant_id, 700)
    invoice_id = await payments.invoice(tenant_id, 500)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    async with payments.http(tenant_id) as http:
        applied = await http.post(
            BALANCE + "/applications", json={"currency": "EUR", "invoice_ids": [str(invoice_id)]}
        )
        payment_id = applied.json()["payments"][0]["id"]
        refund = await http.post(f"/v1/payments/{payment_id}/refunds", json={"amount_minor": 200})
        after_refund = await balance_of(payments, tenant_id)
        too_much = await http.post(
            BALANCE + "/refunds", json={"currency": "EUR", "amount_minor": 401}
        )
        payout = await http.post(
            BALANCE + "/refunds",
            json={"currency": "EUR", "amount_minor": 400, "reason": "closing"},
            headers=key,
        )
        replay = await http.post(
            BALANCE + "/refunds",
            json={"currency": "EUR", "amount_minor": 400, "reason": "closing"},
            headers=key,
        )
        ledger = (await http.get(BALANCE + "/movements")).json()["items"]
    assert applied.json()["balance_minor"] == 200
    assert refund.status_code == 201, refund.text
    assert after_refund == 400  # back to the balance, not out to the client
    assert too_much.status_code == 409
    assert too_much.json()["errors"][0]["pointer"] == "#/amount_minor"
    assert payout.status_code == 201, payout.text
    assert payout.json()["balance_minor"] == 0
    assert replay.json() == payout.json()
    assert replay.headers["idempotent-replayed"] == "true"
    assert await balance_of(payments, tenant_id) == 0
    assert [m["kind"] for m in ledger] == ["refunded", "returned", "applied", "overpayment"]
    refunded = await read_topic(
        payments.infra.kafka.bootstrap_servers,
        "payment-refunded",
        lambda r: r.key == str(invoice_id).encode(),
        expected=1,
        timeout=5,
    )
    assert decode_event(refunded[0].value).payload.amount_minor == 200
    # The payout is published once: the replayed request moved and published nothing.
    paid_out = await read_topic(
        payments.infra.kafka.bootstrap_servers,
        "credit-paid-out",
        lambda r: r.key == str(CLIENT).encode() and decode_event(r.value).tenant_id == tenant_id,
        expected=2,  # waits out the timeout unless a second one comes
        timeout=3,
    )
    assert len(paid_out) == 1
    event = decode_event(paid_out[0].value)
    assert event.event_type == "credit.paid_out"
    assert (event.payload.amount_minor, event.payload.currency, event.payload.reason) == (
        400,
        "EUR",
        "closing",
    )
    assert str(event.payload.payout_id) == payout.json()["id"]


async def test_a_deleted_clients_credit_is_still_spent_on_what_they_owe_and_paid_out(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    await payments.client(tenant_id)
    await credit_of(payments, tenant_id, 700)
    owed = await payments.invoice(tenant_id, 300)
    gone = ClientState(
        client_id=CLIENT, version=2, name="Acme", currency="EUR", payment_terms_days=30,
        deleted=True,
    )  # fmt: skip
    await payments.publish(tenant_id, "client.changed", gone)

    async def deleted() -> bool:
        found = await payments.infra.fetch_as_tenant(
            "payments", tenant_id, "SELECT deleted FROM clients WHERE client_id = $1", CLIENT
        )
        return bool(found and found[0]["deleted"])

    await eventually(deleted, message="client deleted in the replica")
    async with payments.http(tenant_id) as http:
        applied = await http.post(BALANCE + "/applications", json={"currency": "EUR"})
        payout = await http.post(
            BALANCE + "/refunds", json={"currency": "EUR", "amount_minor": 400}
        )
        unknown = await http.post(
            f"/v1/clients/{uuid.uuid4()}/credit-balance/refunds",
            json={"currency": "EUR", "amount_minor": 1},
        )
    assert applied.status_code == 201, applied.text
    assert [p["invoice_id"] for p in applied.json()["payments"]] == [str(owed)]
    assert payout.status_code == 201, payout.text
    assert payout.json()["balance_minor"] == 0
    assert await balance_of(payments, tenant_id) == 0
    assert unknown.status_code == 404, unknown.text


async def test_concurrent_applications_and_payouts_never_spend_a_cent_twice(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    await payments.client(tenant_id)
    await credit_of(payments, tenant_id, 1000)
    invoices = [await payments.invoice(tenant_id, 150) for _ in range(8)]
    async with payments.http(tenant_id) as http:
        tries = [
            http.post(BALANCE + "/applications", json={"currency": "EUR", "amount_minor": 300})
            for _ in range(6)
        ] + [
            http.post(BALANCE + "/refunds", json={"currency": "EUR", "amount_minor": 250})
            for _ in range(3)
        ]
        answers = await asyncio.gather(*tries)
        listed = await http.get("/v1/payments", params={"client_id": str(CLIENT), "limit": 100})
    assert {a.status_code for a in answers} <= {201, 409}, [a.text for a in answers]
    spent = sum(a.json().get("applied_minor", 0) for a in answers if a.status_code == 201)
    paid_out = sum(
        a.json()["amount_minor"]
        for a in answers[6:]
        if a.status_code == 201  # payouts
    )
    # Demand (1,800 asked, 1,200 owed) exceeds the 1,000 of credit and an application takes
    # what is left, so every serial order ends with the balance spent: nothing vanished and
    # nothing was spent twice, and the requests did more than refuse each other.
    assert await balance_of(payments, tenant_id) == 0
    assert spent + paid_out == 1000
    assert spent > 0
    on_invoice: dict[str, int] = {}
    for p in listed.json()["items"]:
        if p["method"] == "credit_balance":
            on_invoice[p["invoice_id"]] = on_invoice.get(p["invoice_id"], 0) + p["applied_minor"]
    assert sum(on_invoice.values()) == spent
    assert set(on_invoice) <= {str(i) for i in invoices}
    assert all(v <= 150 for v in on_invoice.values()), on_invoice


async def test_an_application_retried_while_its_first_attempt_commits_applies_once(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    # The kit's retry after a dropped COMMIT, while the first attempt still holds the lock.
    invoice_id, cmd = await applying_to_one_invoice(
        payments, tenant_id, credit_minor=1000, owed=600
    )
    runtime = payments.runtime
    first_holds_the_lock = asyncio.Event()
    let_it_commit = asyncio.Event()

    async def waiting_for_a_lock() -> bool:
        admin = await asyncpg.connect(payments.infra.admin_dsn())
        try:
            return bool(
                await admin.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                )
            )
        finally:
            await admin.close()

    async def first(conn: asyncpg.Connection) -> credit.Application:
        done = await credit.apply_credit(conn, runtime, cmd)
        first_holds_the_lock.set()
        await let_it_commit.wait()
        return done

    async def retried() -> credit.Application:
        await first_holds_the_lock.wait()
        attempt = asyncio.create_task(
            in_tenant_transaction(
                runtime.require_pool(), tenant_id, lambda c: credit.apply_credit(c, runtime, cmd)
            )
        )
        # Past its first look (which found nothing yet), waiting for the balance's lock.
        await eventually(waiting_for_a_lock, message="the retry waiting for the lock")
        let_it_commit.set()
        return await attempt

    one, two = await asyncio.gather(
        in_tenant_transaction(runtime.require_pool(), tenant_id, first), retried()
    )
    assert (one.id, one.applied_minor) == (two.id, two.applied_minor) == (cmd.application_id, 600)
    assert await payments.paid_minor(tenant_id, invoice_id) == 600
    assert await balance_of(payments, tenant_id) == 400


async def test_a_payment_and_a_credit_application_racing_for_one_invoice_pay_it_once(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    await payments.client(tenant_id)
    await credit_of(payments, tenant_id, 1000)
    invoice_id = await payments.invoice(tenant_id, 1000)
    async with payments.http(tenant_id) as http:
        paid, applied = await asyncio.gather(
            http.post("/v1/payments", json=pay(invoice_id, 1000)),
            http.post(
                BALANCE + "/applications",
                json={"currency": "EUR", "invoice_ids": [str(invoice_id)]},
            ),
        )
    assert paid.status_code == 201, paid.text
    assert applied.status_code in (201, 409), applied.text
    # Whichever came first paid it; the other's money is in the balance, not on the invoice.
    assert await payments.paid_minor(tenant_id, invoice_id) == 1000
    assert paid.json()["applied_minor"] + paid.json()["to_credit_minor"] == 1000
    spent = applied.json()["applied_minor"] if applied.status_code == 201 else 0
    assert paid.json()["applied_minor"] + spent == 1000
    assert await balance_of(payments, tenant_id) == 1000 + paid.json()["to_credit_minor"] - spent


async def test_a_credit_note_after_payment_moves_what_it_overpays_into_credit_once(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    await payments.client(tenant_id)
    invoice_id = await payments.invoice(tenant_id, 10000)
    async with payments.http(tenant_id) as http:
        first = (await http.post("/v1/payments", json=pay(invoice_id, 6000))).json()
        second = (await http.post("/v1/payments", json=pay(invoice_id, 4000))).json()
    note = credit_note_event(invoice_id, 5000)
    await payments.publish(tenant_id, "credit_note.issued", note)
    await payments.publish(tenant_id, "credit_note.issued", note)  # redelivered
    # A second note behind the redelivery (same key, same partition): once it is counted,
    # the redelivery was consumed before it.
    marker = note.model_copy(update={"credit_note_id": uuid.uuid4(), "number": "CN-2"})
    await payments.publish(tenant_id, "credit_note.issued", marker)

    async def both_counted() -> bool:
        found = await payments.infra.fetch_as_tenant(
            "payments",
            tenant_id,
            "SELECT count(*) AS n FROM receivable_credits WHERE invoice_id = $1",
            invoice_id,
        )
        return bool(found[0]["n"] == 2)

    await eventually(both_counted, message="both credit notes counted")
    refunded = await read_topic(
        payments.infra.kafka.bootstrap_servers,
        "payment-refunded",
        lambda r: r.key == str(invoice_id).encode(),
        expected=4,
        timeout=3,
    )
    moves = sorted(
        (str(e.payment_id), e.amount_minor, e.destination.value)
        for e in (decode_event(r.value).payload for r in refunded)
    )
    # 5000 over after the first note (4000 of the newest payment, 1000 of the other), then
    # the whole second note; the redelivery moved nothing (a 4th event would show it).
    assert moves == sorted(
        [
            (second["id"], 4000, "credit_balance"),
            (first["id"], 1000, "credit_balance"),
            (first["id"], 5000, "credit_balance"),
        ]
    )
    assert await balance_of(payments, tenant_id) == 10000
    async with payments.http(tenant_id) as http:
        after = (await http.get(f"/v1/payments/{first['id']}")).json()
        too_much = await http.post(f"/v1/payments/{first['id']}/refunds", json={"amount_minor": 1})
        today = str(datetime.now(UTC).date())
        rec = (
            await http.get(
                "/v1/reconciliation", params={"period_start": today, "period_end": today}
            )
        ).json()
    assert after["refunded_minor"] == 6000
    assert too_much.status_code == 409  # nothing of it is left on the invoice
    assert rec["mismatches"] == []
    [row] = rec["clients"]
    assert (row["returned_to_credit_minor"], row["refunded_minor"]) == (10000, 0)


async def test_money_found_on_an_invoice_when_its_void_arrives_moves_to_credit_unpublished(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    """Invoicing refuses to void an invoice it knows is paid: a payment recorded here in the
    race before the void was never counted there, so it moves to credit without an event."""
    await payments.client(tenant_id)
    invoice_id = await payments.invoice(tenant_id, 3000)
    async with payments.http(tenant_id) as http:
        paid = (await http.post("/v1/payments", json=pay(invoice_id, 2000))).json()
    voided = voided_event(invoice_id)
    await payments.publish(tenant_id, "invoice.voided", voided)
    await payments.publish(tenant_id, "invoice.voided", voided)  # redelivered

    async def moved() -> bool:
        return await balance_of(payments, tenant_id) == 2000

    await eventually(moved, message="void moved the money to credit")
    async with payments.http(tenant_id) as http:
        after = (await http.get(f"/v1/payments/{paid['id']}")).json()
        today = str(datetime.now(UTC).date())
        rec = (
            await http.get(
                "/v1/reconciliation", params={"period_start": today, "period_end": today}
            )
        ).json()
    assert after["refunded_minor"] == 2000
    assert rec["mismatches"] == []
    published = await read_topic(
        payments.infra.kafka.bootstrap_servers,
        "payment-refunded",
        lambda r: r.key == str(invoice_id).encode(),
        expected=1,
        timeout=3,
    )
    assert published == []


async def test_a_payment_that_waited_for_a_credit_note_sees_it(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    """A payment queued behind the credit-note handler's lock must read what it committed:
    else it puts on the invoice money the invoice no longer owes."""
    await payments.client(tenant_id)
    invoice_id = await payments.invoice(tenant_id, 1000)
    admin = await asyncpg.connect(payments.infra.admin_dsn())
    try:
        # What the credit-note handler does: count the note, then lock the receivable.
        holder = admin.transaction()
        await holder.start()
        await admin.execute(
            "INSERT INTO payments.receivable_credits "
            "(tenant_id, credit_note_id, invoice_id, amount_minor) VALUES ($1, $2, $3, 600)",
            tenant_id,
            uuid.uuid4(),
            invoice_id,
        )
        await admin.execute(
            "SELECT 1 FROM payments.receivables WHERE invoice_id = $1 FOR UPDATE", invoice_id
        )
        async with payments.http(tenant_id) as http:
            waiting = asyncio.create_task(http.post("/v1/payments", json=pay(invoice_id, 1000)))
            await asyncio.sleep(0.5)  # the payment is now blocked on the lock
            assert not waiting.done()
            await holder.commit()
            r = await waiting
    finally:
        await admin.close()
    assert r.status_code == 201, r.text
    assert (r.json()["applied_minor"], r.json()["to_credit_minor"]) == (400, 600)


async def test_an_application_and_a_payout_retried_after_their_commit_do_nothing_twice(
    payments: Payments, tenant_id: uuid.UUID
) -> None:
    # What the kit's retry does when a connection drops at COMMIT: the same command again.
    invoice_id, apply = await applying_to_one_invoice(
        payments, tenant_id, credit_minor=900, owed=500
    )
    runtime = payments.runtime
    payout = credit.PayOutCredit(
        tenant_id=tenant_id,
        refund_id=uuid.uuid4(),
        client_id=CLIENT,
        currency="EUR",
        amount_minor=300,
        reason=None,
    )
    pool = runtime.require_pool()
    applied = [
        await in_tenant_transaction(
            pool, tenant_id, lambda c: credit.apply_credit(c, runtime, apply)
        )
        for _ in range(2)
    ]
    paid_out = [
        await in_tenant_transaction(pool, tenant_id, lambda c: credit.pay_out(c, runtime, payout))
        for _ in range(2)
    ]
    assert applied[0].payments == applied[1].payments
    assert applied[1].applied_minor == 500
    assert paid_out[0] == paid_out[1]
    assert await balance_of(payments, tenant_id) == 900 - 500 - 300
    assert len(await received(payments, invoice_id, 2)) == 1
    published = await read_topic(
        payments.infra.kafka.bootstrap_servers,
        "credit-paid-out",
        lambda r: decode_event(r.value).tenant_id == tenant_id,
        expected=2,  # waits out the timeout unless a second one comes
        timeout=3,
    )
    assert [decode_event(r.value).payload.payout_id for r in published] == [payout.refund_id]
