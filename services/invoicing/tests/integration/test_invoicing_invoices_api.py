"""Invoices from ledger time: pricing, issue with gapless numbers, events, void, payments."""

from __future__ import annotations

import asyncio
import io
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pypdf import PdfReader

from contracts.events.payments import PaymentMethod, PaymentReceived, PaymentRefunded
from contracts.registry import decode_event
from invoicing import jobs
from servicekit.testing import eventually, read_topic

from .conftest import Invoicing

pytestmark = pytest.mark.integration

DAY = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=3)
PERIOD = {"period_start": str((DAY - timedelta(days=1)).date()), "period_end": str(DAY.date())}
MEMBER_A = uuid.UUID(int=0xA)
MEMBER_B = uuid.UUID(int=0xB)


async def priced_client(inv: Invoicing, tenant: uuid.UUID) -> dict[str, Any]:
    """A EUR client with a 15-minute-up project, three rules and a 20 % default tax."""
    async with inv.http(tenant) as http:
        tax = await http.post("/v1/tax-rates", json={"name": "VAT 20%", "percent": "20"})
        assert tax.status_code == 201, tax.text
        tax_id = uuid.UUID(tax.json()["id"])
        client_id = await inv.client(tenant, tax_rate_id=tax_id)
        project_id = await inv.project(tenant, client_id, increment=15, mode="up")
        since = str((DAY - timedelta(days=30)).date())
        for body in (
            {"kind": "hourly", "currency": "EUR", "amount_minor": 10000},
            {
                "kind": "hourly",
                "currency": "EUR",
                "amount_minor": 15000,
                "project_id": str(project_id),
            },
            {
                "kind": "hourly",
                "currency": "EUR",
                "amount_minor": 20000,
                "project_id": str(project_id),
                "member_id": str(MEMBER_A),
            },
        ):
            rule = await http.post("/v1/rate-rules", json={**body, "effective_from": since})
            assert rule.status_code == 201, rule.text
    return {"client_id": client_id, "project_id": project_id, "tax_id": tax_id}


async def log_three(inv: Invoicing, tenant: uuid.UUID, project_id: uuid.UUID) -> list[uuid.UUID]:
    return [
        await inv.entry(tenant, project_id, started_at=DAY, minutes=50, member_id=MEMBER_A),
        await inv.entry(
            tenant, project_id, started_at=DAY + timedelta(hours=2), minutes=20, member_id=MEMBER_A
        ),
        await inv.entry(tenant, project_id, started_at=DAY, minutes=10, member_id=MEMBER_B),
    ]


async def test_draft_prices_time_by_the_most_specific_rule_and_rounds_per_entry(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    c = await priced_client(invoicing, tenant_id)
    entries = await log_three(invoicing, tenant_id, c["project_id"])
    async with invoicing.http(tenant_id) as http:
        draft = await http.post("/v1/invoices", json={"client_id": str(c["client_id"]), **PERIOD})
    assert draft.status_code == 201, draft.text
    body = draft.json()
    assert body["status"] == "draft"
    assert body["number"] is None
    lines = {line["rate"]["scope"]: line for line in body["lines"]}
    # Member A: 50 min -> 60, 20 min -> 30 (15-minute increments, up): 1.5 h at 200.00.
    a = lines["member_on_project"]
    assert (a["quantity"], a["unit"], a["unit_amount_minor"]) == ("1.50", "h", 20000)
    assert (a["raw_seconds"], a["billed_seconds"], a["amount_minor"]) == (4200, 5400, 30000)
    assert sorted(a["time_entry_ids"]) == sorted(str(e) for e in entries[:2])
    # Member B: 10 min -> 15 at the project's 150.00.
    b = lines["project"]
    assert (b["quantity"], b["amount_minor"], b["time_entry_ids"]) == (
        "0.25",
        3750,
        [str(entries[2])],
    )
    assert b["rate"]["rule_id"] in b["rate"]["explanation"]
    # One tax rounding over the document: 20 % of 337.50.
    assert (body["subtotal_minor"], body["tax_minor"], body["total_minor"]) == (33750, 6750, 40500)
    assert body["taxes"] == [
        {
            "tax_rate_id": str(c["tax_id"]),
            "name": "VAT 20%",
            "percent": "20.0000",
            "treatment": "standard",
            "taxable_minor": 33750,
            "tax_minor": 6750,
        }
    ]
    assert body["balance_minor"] == 40500


async def test_issue_numbers_freezes_publishes_and_locks_the_time(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    c = await priced_client(invoicing, tenant_id)
    entries = await log_three(invoicing, tenant_id, c["project_id"])
    async with invoicing.http(tenant_id) as http:
        draft = (await http.post("/v1/invoices", json={"client_id": str(c["client_id"])})).json()
        issued = await http.post(f"/v1/invoices/{draft['id']}/issue")
        assert issued.status_code == 200, issued.text
        again = await http.post(f"/v1/invoices/{draft['id']}/issue")
        redraft = await http.post("/v1/invoices", json={"client_id": str(c["client_id"])})
    body = issued.json()
    year = datetime.now(UTC).year
    assert body["number"] == f"INV-{year}-00001"
    assert body["status"] == "issued"
    assert body["due_date"] == str(datetime.now(UTC).date() + timedelta(days=30))
    assert again.status_code == 409
    assert again.json()["type"].endswith("/invalid-transition")
    # The issued invoice holds its time: nothing is left to bill.
    assert redraft.status_code == 409
    assert redraft.json()["type"].endswith("/nothing-to-bill")

    records = await read_topic(
        invoicing.infra.kafka.bootstrap_servers,
        "invoice-issued",
        lambda r: r.key == draft["id"].encode(),
        expected=1,
    )
    assert len(records) == 1
    event = decode_event(records[0].value)
    assert event.tenant_id == tenant_id
    assert event.payload.number == body["number"]
    assert event.payload.total_minor == body["total_minor"] == 40500
    assert sorted(event.payload.time_entry_ids) == sorted(entries)
    assert [line.amount_minor for line in event.payload.lines] == [
        line["amount_minor"] for line in body["lines"]
    ]


async def test_void_keeps_the_number_and_releases_the_time(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    c = await priced_client(invoicing, tenant_id)
    entries = await log_three(invoicing, tenant_id, c["project_id"])
    async with invoicing.http(tenant_id) as http:
        draft = (await http.post("/v1/invoices", json={"client_id": str(c["client_id"])})).json()
        void_draft = await http.post(f"/v1/invoices/{draft['id']}/void")
        issued = (await http.post(f"/v1/invoices/{draft['id']}/issue")).json()
        voided = await http.post(f"/v1/invoices/{draft['id']}/void", json={"reason": "wrong PO"})
        delete_issued = await http.delete(f"/v1/invoices/{draft['id']}")
        redraft = await http.post("/v1/invoices", json={"client_id": str(c["client_id"])})
    assert void_draft.status_code == 409
    assert voided.status_code == 200, voided.text
    assert voided.json()["status"] == "void"
    assert voided.json()["number"] == issued["number"]
    assert voided.json()["voided_at"] is not None
    assert delete_issued.status_code == 409
    assert redraft.status_code == 201, redraft.text
    rebilled = {e for line in redraft.json()["lines"] for e in line["time_entry_ids"]}
    assert rebilled == {str(e) for e in entries}

    records = await read_topic(
        invoicing.infra.kafka.bootstrap_servers,
        "invoice-voided",
        lambda r: r.key == draft["id"].encode(),
        expected=1,
    )
    event = decode_event(records[0].value)
    assert (event.payload.reason, sorted(event.payload.time_entry_ids)) == (
        "wrong PO",
        sorted(entries),
    )


async def test_deleting_a_draft_releases_its_time(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    c = await priced_client(invoicing, tenant_id)
    await log_three(invoicing, tenant_id, c["project_id"])
    async with invoicing.http(tenant_id) as http:
        draft = (await http.post("/v1/invoices", json={"client_id": str(c["client_id"])})).json()
        deleted = await http.delete(f"/v1/invoices/{draft['id']}")
        gone = await http.get(f"/v1/invoices/{draft['id']}")
        redraft = await http.post("/v1/invoices", json={"client_id": str(c["client_id"])})
    assert deleted.status_code == 204
    assert gone.status_code == 404
    assert redraft.status_code == 201
    assert redraft.json()["total_minor"] == draft["total_minor"]


async def test_payments_and_refunds_move_the_payment_status_once_each(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    c = await priced_client(invoicing, tenant_id)
    await log_three(invoicing, tenant_id, c["project_id"])
    async with invoicing.http(tenant_id) as http:
        draft = (await http.post("/v1/invoices", json={"client_id": str(c["client_id"])})).json()
        issued = (await http.post(f"/v1/invoices/{draft['id']}/issue")).json()

        def payment(amount: int, payment_id: uuid.UUID | None = None) -> PaymentReceived:
            return PaymentReceived(
                payment_id=payment_id or uuid.uuid4(),
                invoice_id=uuid.UUID(issued["id"]),
                client_id=c["client_id"],
                amount_minor=amount,
                currency="EUR",
                method=PaymentMethod.BANK_TRANSFER,
                received_at=datetime.now(UTC),
            )

        async def state() -> dict[str, Any]:
            found: dict[str, Any] = (await http.get(f"/v1/invoices/{issued['id']}")).json()
            return found

        async def reaches(paid: int, status: str) -> dict[str, Any]:
            async def probe() -> dict[str, Any] | None:
                s = await state()
                return (
                    s if (s["amount_paid_minor"], s["payment_status"]) == (paid, status) else None
                )

            result: dict[str, Any] = await eventually(probe, message=f"paid {paid} {status}")
            return result

        first = payment(10000)
        await invoicing.publish(tenant_id, "payment.received", first)
        partial = await reaches(10000, "partially_paid")
        assert partial["balance_minor"] == 30500
        # The same payment again, as a new event (a producer retry): counted once.
        await invoicing.publish(tenant_id, "payment.received", first)
        await invoicing.publish(tenant_id, "payment.received", payment(30500))
        paid = await reaches(40500, "paid")
        assert paid["balance_minor"] == 0
        assert paid["paid_at"] is not None
        refund = PaymentRefunded(
            refund_id=uuid.uuid4(),
            payment_id=first.payment_id,
            invoice_id=uuid.UUID(issued["id"]),
            client_id=c["client_id"],
            amount_minor=500,
            currency="EUR",
            refunded_at=datetime.now(UTC),
        )
        await invoicing.publish(tenant_id, "payment.refunded", refund)
        refunded = await reaches(40000, "partially_paid")
        assert refunded["paid_at"] is None
        assert refunded["balance_minor"] == 500

    records = await read_topic(
        invoicing.infra.kafka.bootstrap_servers,
        "invoice-paid",
        lambda r: r.key == issued["id"].encode(),
        expected=2,
        timeout=3,
    )
    assert len(records) == 1
    assert decode_event(records[0].value).payload.amount_paid_minor == 40500


async def test_fifty_concurrent_issues_take_fifty_consecutive_numbers(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    client_id = await invoicing.client(tenant_id)
    line = {"description": "Setup", "quantity": "1", "unit_amount_minor": 5000}
    async with invoicing.http(tenant_id) as http:
        drafts = [
            (
                await http.post(
                    "/v1/invoices",
                    json={"client_id": str(client_id), "include_time": False, "lines": [line]},
                )
            ).json()["id"]
            for _ in range(50)
        ]
        issued = await asyncio.gather(*(http.post(f"/v1/invoices/{d}/issue") for d in drafts))
        listed = await http.get("/v1/invoices", params={"status": "issued", "limit": 100})
        report = (await http.get("/v1/invoices/sequence-report")).json()
        other_year = (await http.get("/v1/invoices/sequence-report", params={"year": 2001})).json()
    assert [r.status_code for r in issued] == [200] * 50
    year = datetime.now(UTC).year
    numbers = sorted(r.json()["number"] for r in issued)
    assert numbers == [f"INV-{year}-{n:05d}" for n in range(1, 51)]
    assert len(listed.json()["items"]) == 50
    assert (report["prefix"], report["year"], report["last_value"]) == ("INV", year, 50)
    assert (report["gaps"], report["duplicates"], report["intact"]) == ([], [], True)
    assert [d["sequence"] for d in report["documents"]] == list(range(1, 51))
    assert {d["document_id"] for d in report["documents"]} == set(drafts)
    assert (other_year["last_value"], other_year["documents"]) == (0, [])


async def test_draft_errors_name_the_problem_and_write_nothing(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    client_id = await invoicing.client(tenant_id)
    project_id = await invoicing.project(tenant_id, client_id)
    entry = await invoicing.entry(tenant_id, project_id, started_at=DAY, minutes=30)
    async with invoicing.http(tenant_id) as http:
        unknown = await http.post("/v1/invoices", json={"client_id": str(uuid.uuid4())})
        backwards = await http.post(
            "/v1/invoices",
            json={
                "client_id": str(client_id),
                "period_start": "2026-02-02",
                "period_end": "2026-02-01",
            },
        )
        half = await http.post(
            "/v1/invoices", json={"client_id": str(client_id), "period_start": "2026-02-02"}
        )
        unpriced = await http.post("/v1/invoices", json={"client_id": str(client_id)})
        bad_discount = await http.post(
            "/v1/invoices",
            json={"client_id": str(client_id), "discount": {"kind": "percent", "value": "120"}},
        )
        bad_tax = await http.post(
            "/v1/invoices",
            json={
                "client_id": str(client_id),
                "include_time": False,
                "lines": [{"description": "x", "quantity": "1", "unit_amount_minor": 1}],
                "tax_rate_id": str(uuid.uuid4()),
            },
        )
        listed = await http.get("/v1/invoices", params={"client_id": str(client_id)})
    async with invoicing.http(tenant_id, "viewer") as viewer:
        forbidden = await viewer.post("/v1/invoices", json={"client_id": str(client_id)})
    assert unknown.status_code == 404
    assert backwards.status_code == 422
    assert half.status_code == 422
    assert unpriced.status_code == 409
    assert unpriced.json()["type"].endswith("/rate-missing")
    assert unpriced.json()["entry_ids"] == [str(entry)]
    assert bad_discount.status_code == 422
    assert "discount" in str(bad_discount.json()["errors"])
    assert bad_tax.status_code == 422
    assert bad_tax.json()["errors"][0]["pointer"] == "#/tax_rate_id"
    assert forbidden.status_code == 403
    assert listed.json()["items"] == []
    assert await invoicing.rows(tenant_id, "SELECT * FROM invoice_entries") == []


async def test_rate_rules_and_tax_rates_validate_their_scope(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    client_id = await invoicing.client(tenant_id, currency="JPY")
    project_id = await invoicing.project(tenant_id, client_id)
    base = {
        "kind": "hourly",
        "currency": "JPY",
        "amount_minor": 5000,
        "effective_from": "2026-01-01",
    }
    async with invoicing.http(tenant_id) as http:
        wrong_currency = await http.post(
            "/v1/rate-rules", json={**base, "currency": "EUR", "client_id": str(client_id)}
        )
        member_only = await http.post("/v1/rate-rules", json={**base, "member_id": str(MEMBER_A)})
        fee_without_project = await http.post("/v1/rate-rules", json={**base, "kind": "fixed_fee"})
        backwards = await http.post(
            "/v1/rate-rules",
            json={**base, "client_id": str(client_id), "effective_to": "2025-12-31"},
        )
        unknown_project = await http.post(
            "/v1/rate-rules", json={**base, "project_id": str(uuid.uuid4())}
        )
        ok = await http.post("/v1/rate-rules", json={**base, "project_id": str(project_id)})
        listed = await http.get(
            "/v1/rate-rules", params={"client_id": str(client_id), "in_effect_on": "2026-06-01"}
        )
        before = await http.get("/v1/rate-rules", params={"in_effect_on": "2025-06-01"})
        dup_tax = [
            await http.post("/v1/tax-rates", json={"name": "GST", "percent": "10"})
            for _ in range(2)
        ]
        bad_tax = await http.post("/v1/tax-rates", json={"name": "X", "percent": "101"})
        patched = await http.patch(
            f"/v1/rate-rules/{ok.json()['id']}", json={"effective_to": "2026-12-31"}
        )
        patched_ok = await http.patch(
            f"/v1/rate-rules/{ok.json()['id']}",
            json={"effective_to": "2026-12-31"},
            headers={"If-Match": ok.headers["ETag"]},
        )
    assert wrong_currency.status_code == 422
    assert wrong_currency.json()["errors"][0]["pointer"] == "#/currency"
    assert member_only.status_code == 422
    assert fee_without_project.status_code == 422
    assert backwards.status_code == 422
    assert unknown_project.status_code == 422
    assert ok.status_code == 201, ok.text
    assert ok.json()["scope"] == "project"
    assert ok.json()["client_id"] == str(client_id)
    assert [r["id"] for r in listed.json()["items"]] == [ok.json()["id"]]
    assert before.json()["items"] == []
    assert [r.status_code for r in dup_tax] == [201, 409]
    assert bad_tax.status_code == 422
    assert patched.status_code == 428
    assert patched_ok.status_code == 200
    assert patched_ok.json()["effective_to"] == "2026-12-31"


async def test_settings_decide_prefix_timezone_and_tax_rounding(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    async with invoicing.http(tenant_id) as http:
        defaults = await http.get("/v1/invoice-settings")
        bad_zone = await http.put("/v1/invoice-settings", json={"timezone": "Mars/Olympus"})
        saved = await http.put(
            "/v1/invoice-settings",
            json={
                "timezone": "Pacific/Kiritimati",
                "invoice_prefix": "AC",
                "tax_rounding": "per_line",
            },
        )
        stale = await http.put("/v1/invoice-settings", json={"timezone": "UTC"})
        tax = (await http.post("/v1/tax-rates", json={"name": "VAT", "percent": "19"})).json()
        client_id = await invoicing.client(tenant_id)
        lines = [
            {
                "description": f"Item {i}",
                "quantity": "1",
                "unit_amount_minor": 1,
                "tax_rate_id": tax["id"],
            }
            for i in range(3)
        ]
        draft = (
            await http.post(
                "/v1/invoices",
                json={"client_id": str(client_id), "include_time": False, "lines": lines},
            )
        ).json()
        issued = (await http.post(f"/v1/invoices/{draft['id']}/issue")).json()
    assert defaults.status_code == 200
    assert (defaults.json()["timezone"], defaults.json()["version"]) == ("UTC", 0)
    assert bad_zone.status_code == 422
    assert saved.status_code == 200, saved.text
    assert stale.status_code == 428
    # 19 % of 0.01 rounds to 0 on each line (per line); once per document it would be 0.01.
    assert draft["tax_minor"] == 0
    # The issue year is the year in the tenant's zone (UTC+14).
    local_year = (datetime.now(UTC) + timedelta(hours=14)).year
    assert issued["number"] == f"AC-{local_year}-00001"
    assert issued["due_date"] == str(
        (datetime.now(UTC) + timedelta(hours=14)).date() + timedelta(days=30)
    )
    assert date.fromisoformat(issued["due_date"])


async def test_pdf_of_an_issued_invoice_prints_its_stored_figures(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    c = await priced_client(invoicing, tenant_id)
    await log_three(invoicing, tenant_id, c["project_id"])
    async with invoicing.http(tenant_id) as http:
        await http.put(
            "/v1/invoice-settings",
            json={"seller_name": "Billstream Consulting", "payment_instructions": "IBAN DE00 1234"},
        )
        draft = (await http.post("/v1/invoices", json={"client_id": str(c["client_id"])})).json()
        of_draft = await http.get(f"/v1/invoices/{draft['id']}/pdf")
        issued = (await http.post(f"/v1/invoices/{draft['id']}/issue")).json()
        pdf = await http.get(f"/v1/invoices/{draft['id']}/pdf")
        missing = await http.get(f"/v1/invoices/{uuid.uuid4()}/pdf")
    assert of_draft.status_code == 409
    assert missing.status_code == 404
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    for expected in (
        issued["number"],
        "Billstream Consulting",
        "IBAN DE00 1234",
        issued["client"]["name"],
        issued["due_date"],
        "405.00 EUR",  # total
        "67.50 EUR",  # tax
        "300.00 EUR",  # member A's line
    ):
        assert expected in text, (expected, text)


async def test_overdue_job_marks_each_past_due_invoice_once_and_catches_up(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    client_id = await invoicing.client(tenant_id, terms=3)
    line = {"description": "Audit", "quantity": "2", "unit_amount_minor": 7000}

    async def issue() -> dict[str, Any]:
        async with invoicing.http(tenant_id) as http:
            body = {"client_id": str(client_id), "include_time": False, "lines": [line]}
            draft = (await http.post("/v1/invoices", json=body)).json()
            issued: dict[str, Any] = (await http.post(f"/v1/invoices/{draft['id']}/issue")).json()
            return issued

    owing, paid = await issue(), await issue()
    await invoicing.publish(
        tenant_id,
        "payment.received",
        PaymentReceived(
            payment_id=uuid.uuid4(),
            invoice_id=uuid.UUID(paid["id"]),
            client_id=client_id,
            amount_minor=14000,
            currency="EUR",
            method=PaymentMethod.CARD,
            received_at=datetime.now(UTC),
        ),
    )

    async def settled() -> bool:
        found = await invoicing.rows(
            tenant_id, "SELECT payment_status FROM invoices WHERE id = $1", uuid.UUID(paid["id"])
        )
        return found[0]["payment_status"] == "paid"

    await eventually(settled, message="second invoice paid")
    # On the due date itself nothing is overdue.
    invoicing.clock.offset = timedelta(days=3)
    try:
        assert await jobs.mark_overdue(invoicing.runtime) == 0
        # The service was down for a week: the first run after it catches up, once.
        invoicing.clock.offset = timedelta(days=10)
        first = await jobs.mark_overdue(invoicing.runtime)
        second = await jobs.mark_overdue(invoicing.runtime)
    finally:
        invoicing.clock.offset = timedelta(0)
    assert first >= 1
    assert second == 0
    async with invoicing.http(tenant_id) as http:
        owing_now = (await http.get(f"/v1/invoices/{owing['id']}")).json()
        paid_now = (await http.get(f"/v1/invoices/{paid['id']}")).json()
        overdue_list = await http.get("/v1/invoices", params={"collection_status": "overdue"})
    assert owing_now["collection_status"] == "overdue"
    assert owing_now["overdue_at"] is not None
    assert paid_now["collection_status"] == "current"
    assert [i["id"] for i in overdue_list.json()["items"]] == [owing["id"]]
    records = await read_topic(
        invoicing.infra.kafka.bootstrap_servers,
        "invoice-overdue",
        lambda r: r.key == owing["id"].encode(),
        expected=2,
        timeout=3,
    )
    assert len(records) == 1
    assert decode_event(records[0].value).payload.balance_minor == 14000


async def test_a_projects_time_lines_take_their_own_tax_and_discount(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    c = await priced_client(invoicing, tenant_id)
    other = await invoicing.project(tenant_id, c["client_id"], increment=15, mode="up")
    await log_three(invoicing, tenant_id, c["project_id"])
    await invoicing.entry(tenant_id, other, started_at=DAY, minutes=60, member_id=MEMBER_B)
    async with invoicing.http(tenant_id) as http:
        export = await http.post(
            "/v1/tax-rates", json={"name": "Export", "percent": "0", "treatment": "zero_rated"}
        )
        body = {
            "client_id": str(c["client_id"]),
            "time_lines": [
                {
                    "project_id": str(other),
                    "tax_rate_id": export.json()["id"],
                    "discount": {"kind": "percent", "value": "10"},
                }
            ],
        }
        draft = await http.post("/v1/invoices", json=body)
        twice = await http.post("/v1/invoices", json={**body, "time_lines": body["time_lines"] * 2})
    assert draft.status_code == 201, draft.text
    lines = {line["project_id"]: line for line in draft.json()["lines"]}
    special = lines[str(other)]
    # 1 h at the tenant default 100.00, 10 % off, zero-rated.
    assert (special["amount_minor"], special["discount_minor"], special["tax_minor"]) == (
        10000,
        1000,
        0,
    )
    assert special["tax"]["treatment"] == "zero_rated"
    assert {
        line["tax"]["name"] for line in draft.json()["lines"] if line["project_id"] != str(other)
    } == {"VAT 20%"}
    assert twice.status_code == 422
