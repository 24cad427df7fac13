"""The corners: negative lines credited, money for void invoices, bounds, odd schedules."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts.events.clients import ClientState
from contracts.events.payments import PaymentMethod, PaymentReceived
from contracts.registry import decode_event
from contracts.topics import dlq_topic
from invoicing import jobs
from invoicing.handlers import payments
from servicekit.db import in_tenant_transaction
from servicekit.testing import eventually, read_topic

from .conftest import Invoicing

pytestmark = pytest.mark.integration

DAY = datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0) - timedelta(days=4)


async def issue(inv: Invoicing, tenant: uuid.UUID, client_id: uuid.UUID, lines: list[Any]) -> Any:
    async with inv.http(tenant) as http:
        body = {"client_id": str(client_id), "include_time": False, "lines": lines}
        draft = (await http.post("/v1/invoices", json=body)).json()
        return (await http.post(f"/v1/invoices/{draft['id']}/issue")).json()


def line(amount: int, description: str = "x") -> dict[str, Any]:
    return {"description": description, "quantity": "1", "unit_amount_minor": amount}


async def test_a_full_credit_nets_negative_lines_and_never_passes_the_total(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    async with invoicing.http(tenant_id) as http:
        tax = (await http.post("/v1/tax-rates", json={"name": "VAT", "percent": "20"})).json()
    client_id = await invoicing.client(tenant_id, tax_rate_id=uuid.UUID(tax["id"]))
    invoice = await issue(invoicing, tenant_id, client_id, [line(2000), line(-500, "goodwill")])
    assert invoice["total_minor"] == 1800
    async with invoicing.http(tenant_id) as http:
        whole_line = await http.post(
            "/v1/credit-notes",
            json={
                "invoice_id": invoice["id"],
                "lines": [{"invoice_line_id": invoice["lines"][0]["id"], "amount_minor": 2000}],
            },
        )
        full = await http.post("/v1/credit-notes", json={"invoice_id": invoice["id"], "full": True})
        after = (await http.get(f"/v1/invoices/{invoice['id']}")).json()
    assert whole_line.status_code == 422  # 2400 with tax, more than the 1800 billed
    assert full.status_code == 201, full.text
    assert full.json()["total_minor"] == 1800
    assert (after["balance_minor"], after["payment_status"]) == (0, "paid")


async def test_money_for_a_void_invoice_goes_to_the_dead_letter_topic_and_counts_nowhere(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    client_id = await invoicing.client(tenant_id)
    invoice = await issue(invoicing, tenant_id, client_id, [line(1000)])
    async with invoicing.http(tenant_id) as http:
        assert (await http.post(f"/v1/invoices/{invoice['id']}/void")).status_code == 200
    payment_id = uuid.uuid4()
    await invoicing.publish(
        tenant_id,
        "payment.received",
        PaymentReceived(
            payment_id=payment_id,
            invoice_id=uuid.UUID(invoice["id"]),
            client_id=client_id,
            amount_minor=1000,
            currency="EUR",
            method=PaymentMethod.CASH,
            received_at=datetime.now(UTC),
        ),
    )
    dead = await read_topic(
        invoicing.infra.kafka.bootstrap_servers,
        dlq_topic("payment-received"),
        lambda r: r.key == invoice["id"].encode(),
        expected=1,
    )
    assert len(dead) == 1
    assert decode_event(dead[0].value).payload.payment_id == payment_id
    # A void invoice stays void: dead-lettered at once, not after the retries' backoff.
    headers = {k: v.decode() for k, v in dead[0].headers}
    assert (headers["dlq.error_type"], headers["dlq.attempts"]) == ("NotPayable", "1")
    async with invoicing.http(tenant_id) as http:
        now = (await http.get(f"/v1/invoices/{invoice['id']}")).json()
    assert (now["status"], now["amount_paid_minor"], now["payment_status"]) == ("void", 0, "unpaid")


async def test_a_written_off_invoice_is_not_voided_and_payment_clears_overdue(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    client_id = await invoicing.client(tenant_id, terms=0)
    written, late = (
        await issue(invoicing, tenant_id, client_id, [line(700)]),
        await issue(invoicing, tenant_id, client_id, [line(900)]),
    )
    async with invoicing.http(tenant_id) as http:
        off = await http.post(f"/v1/invoices/{written['id']}/write-off", json={"reason": "gone"})
        void = await http.post(f"/v1/invoices/{written['id']}/void")
    assert off.status_code == 200
    assert off.json()["collection_status"] == "uncollectible"
    assert void.status_code == 409
    invoicing.clock.offset = timedelta(days=2)
    try:
        await jobs.mark_overdue(invoicing.runtime)
    finally:
        invoicing.clock.offset = timedelta(0)
    await invoicing.publish(
        tenant_id,
        "payment.received",
        PaymentReceived(
            payment_id=uuid.uuid4(),
            invoice_id=uuid.UUID(late["id"]),
            client_id=client_id,
            amount_minor=900,
            currency="EUR",
            method=PaymentMethod.CARD,
            received_at=datetime.now(UTC),
        ),
    )

    async def settled() -> Any:
        async with invoicing.http(tenant_id) as http:
            body = (await http.get(f"/v1/invoices/{late['id']}")).json()
        return body if body["payment_status"] == "paid" else None

    paid = await eventually(settled, message="late invoice paid")
    assert paid["overdue_at"] is not None
    assert paid["collection_status"] == "current"


async def test_adjusting_a_discounted_entry_reverses_what_was_billed_at_the_billed_tax(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    async with invoicing.http(tenant_id) as http:
        vat = (await http.post("/v1/tax-rates", json={"name": "VAT 20", "percent": "20"})).json()
        other = (await http.post("/v1/tax-rates", json={"name": "VAT 10", "percent": "10"})).json()
    client_id = await invoicing.client(tenant_id, tax_rate_id=uuid.UUID(vat["id"]))
    project_id = await invoicing.project(tenant_id, client_id)
    async with invoicing.http(tenant_id) as http:
        rule = {
            "kind": "hourly",
            "client_id": str(client_id),
            "currency": "EUR",
            "amount_minor": 10000,
            "effective_from": "2020-01-01",
        }
        assert (await http.post("/v1/rate-rules", json=rule)).status_code == 201
        entry = await invoicing.entry(tenant_id, project_id, started_at=DAY, minutes=60)
        body = {"client_id": str(client_id), "discount": {"kind": "percent", "value": "10"}}
        draft = (await http.post("/v1/invoices", json=body)).json()
        first = (await http.post(f"/v1/invoices/{draft['id']}/issue")).json()
        assert (first["subtotal_minor"], first["discount_minor"], first["total_minor"]) == (
            10000,
            1000,
            10800,
        )
        await invoicing.entry(
            tenant_id,
            project_id,
            started_at=DAY,
            minutes=60,
            entry_id=entry,
            version=2,
            event_type="time_entry.deleted",
        )
        # The client's default tax changed since: the reversal keeps the billed 20 %.
        await invoicing.publish(
            tenant_id,
            "client.changed",
            ClientState(
                client_id=client_id,
                version=2,
                name="Renamed",
                currency="EUR",
                payment_terms_days=30,
                default_tax_rate_id=uuid.UUID(other["id"]),
            ),
        )

        async def renamed() -> bool:
            found = await invoicing.rows(
                tenant_id, "SELECT version FROM client_replicas WHERE client_id = $1", client_id
            )
            return bool(found[0]["version"] == 2)

        await eventually(renamed, message="client v2")
        extra = {"description": "Fee", "quantity": "1", "unit_amount_minor": 20000}
        second = await http.post(
            "/v1/invoices", json={"client_id": str(client_id), "lines": [extra]}
        )
    assert second.status_code == 201, second.text
    [reversal] = [x for x in second.json()["lines"] if x["kind"] == "adjustment"]
    assert reversal["amount_minor"] == -9000  # the 90.00 billed after the 10 % discount
    assert (reversal["tax"]["tax_rate_id"], reversal["tax_minor"]) == (vat["id"], -1800)


async def test_out_of_range_values_are_422_not_500(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    client_id = await invoicing.client(tenant_id)
    async with invoicing.http(tenant_id) as http:
        far = await http.post(
            "/v1/invoices",
            json={
                "client_id": str(client_id),
                "period_start": "9999-12-01",
                "period_end": "9999-12-31",
            },
        )
        far_run = await http.post(
            "/v1/billing-runs", json={"period_start": "0001-01-01", "period_end": "0001-01-02"}
        )
        huge = await http.post(
            "/v1/invoices",
            json={
                "client_id": str(client_id),
                "include_time": False,
                "lines": [
                    {"description": "x", "quantity": "999999999", "unit_amount_minor": 10**15}
                ],
            },
        )
        same_prefix = await http.put(
            "/v1/invoice-settings", json={"invoice_prefix": "DOC", "credit_note_prefix": "DOC"}
        )
        tax = (await http.post("/v1/tax-rates", json={"name": "Old", "percent": "5"})).json()
        await http.patch(
            f"/v1/tax-rates/{tax['id']}", json={"archived": True}, headers={"If-Match": '"1"'}
        )
        archived = await http.post(
            "/v1/invoices",
            json={
                "client_id": str(client_id),
                "include_time": False,
                "tax_rate_id": tax["id"],
                "lines": [line(100)],
            },
        )
        time_in_advance = await http.post(
            "/v1/recurring-invoices",
            json={
                "client_id": str(client_id),
                "frequency": "monthly",
                "start_date": "2026-01-01",
                "include_time": True,
            },
        )
    for response in (far, far_run, huge, same_prefix, archived, time_in_advance):
        assert response.status_code == 422, response.text
    assert archived.json()["errors"][0]["pointer"] == "#/tax_rate_id"


async def test_a_batch_of_money_lands_as_the_same_money_one_by_one_would(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    """The consumer's batch path (`apply_money_many`) against the sequential one: two
    invoices, a partial payment, the same payment again, the rest, a refund, all at once."""
    client_id = await invoicing.client(tenant_id)
    batched = [await issue(invoicing, tenant_id, client_id, [line(1000)]) for _ in range(2)]
    single = [await issue(invoicing, tenant_id, client_id, [line(1000)]) for _ in range(2)]
    at = datetime.now(UTC).replace(microsecond=0)

    def commands(invoices: list[Any]) -> list[payments.ApplyMoney]:
        first, second = (uuid.UUID(i["id"]) for i in invoices)
        partial = uuid.uuid4()

        def money(
            invoice_id: uuid.UUID, amount: int, kind: Any = "payment", money_id: Any = None
        ) -> payments.ApplyMoney:
            return payments.ApplyMoney(
                tenant_id=tenant_id,
                money_id=money_id or uuid.uuid4(),
                invoice_id=invoice_id,
                kind=kind,
                amount_minor=amount,
                currency="EUR",
                occurred_at=at,
                source_event_id=uuid.uuid4(),
            )

        return [
            money(first, 400, money_id=partial),
            money(second, 1000),
            money(first, 400, money_id=partial),  # the same payment again
            money(first, 600),
            money(second, 250, kind="refund"),
        ]

    pool = invoicing.runtime.require_pool()

    async def batch(conn: Any) -> None:
        await payments.apply_money_many(conn, commands(batched))

    async def one_by_one(conn: Any) -> None:
        for cmd in commands(single):
            await payments.apply_money(conn, cmd)

    await in_tenant_transaction(pool, tenant_id, batch)
    await in_tenant_transaction(pool, tenant_id, one_by_one)

    async def state(invoice: Any) -> tuple[Any, ...]:
        [row] = await invoicing.infra.fetch_as_tenant(
            "invoicing",
            tenant_id,
            "SELECT amount_paid_minor, payment_status, version, paid_at, partially_paid_at, "
            "(SELECT count(*) FROM invoice_payments p WHERE p.invoice_id = i.id) AS money "
            "FROM invoices i WHERE id = $1",
            uuid.UUID(invoice["id"]),
        )
        paid_events = await read_topic(
            invoicing.infra.kafka.bootstrap_servers,
            "invoice-paid",
            lambda r: r.key == invoice["id"].encode(),
            expected=2,  # waited for, to see that no second one comes
            timeout=2,
        )
        return (*row, len(paid_events))

    after_batch = [await state(i) for i in batched]
    assert after_batch == [await state(i) for i in single]
    # (paid, status, payment rows, invoice.paid events): the repeated payment counted once.
    assert [s[:2] + s[5:] for s in after_batch] == [
        (1000, "paid", 2, 1),
        (750, "partially_paid", 2, 1),
    ]


async def test_a_batch_naming_an_unknown_invoice_writes_nothing(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    client_id = await invoicing.client(tenant_id)
    invoice = await issue(invoicing, tenant_id, client_id, [line(1000)])
    known, unknown = (
        payments.ApplyMoney(
            tenant_id=tenant_id,
            money_id=uuid.uuid4(),
            invoice_id=invoice_id,
            kind="payment",
            amount_minor=1000,
            currency="EUR",
            occurred_at=datetime.now(UTC),
            source_event_id=uuid.uuid4(),
        )
        for invoice_id in (uuid.UUID(invoice["id"]), uuid.uuid4())
    )

    async def batch(conn: Any) -> None:
        await payments.apply_money_many(conn, [known, unknown])

    # The consumer then applies the batch one event at a time: the known one lands and the
    # unknown one goes to the dead-letter topic (tested above through the broker).
    with pytest.raises(payments.UnknownInvoice):
        await in_tenant_transaction(invoicing.runtime.require_pool(), tenant_id, batch)
    async with invoicing.http(tenant_id) as http:
        now = (await http.get(f"/v1/invoices/{invoice['id']}")).json()
    assert (now["amount_paid_minor"], now["payment_status"]) == (0, "unpaid")
