"""Credit notes: their own gapless series, never more than was billed, balance reduced."""

from __future__ import annotations

import asyncio
import io
import uuid
from typing import Any

import asyncpg
import pytest
from pypdf import PdfReader

from contracts.registry import decode_event
from servicekit import idempotency
from servicekit.testing import read_topic

from .conftest import Invoicing

pytestmark = pytest.mark.integration


async def issued_invoice(inv: Invoicing, tenant: uuid.UUID) -> dict[str, Any]:
    async with inv.http(tenant) as http:
        tax = (await http.post("/v1/tax-rates", json={"name": "VAT 19%", "percent": "19"})).json()
        client_id = await inv.client(tenant, tax_rate_id=uuid.UUID(tax["id"]))
        lines = [
            {"description": "Workshop", "quantity": "1", "unit_amount_minor": 100000},
            {"description": "Travel", "quantity": "3", "unit_amount_minor": 3333},
        ]
        body = {"client_id": str(client_id), "include_time": False, "lines": lines}
        draft = (await http.post("/v1/invoices", json=body)).json()
        issued: dict[str, Any] = (await http.post(f"/v1/invoices/{draft['id']}/issue")).json()
        return issued


async def test_partial_then_full_credit_lands_exactly_on_the_invoice_total(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    invoice = await issued_invoice(invoicing, tenant_id)
    workshop = invoice["lines"][0]
    # 1000.00 + 99.99, tax 19 % once over 1099.99 = 209.00 (208.9981).
    assert (invoice["subtotal_minor"], invoice["tax_minor"]) == (109999, 20900)
    async with invoicing.http(tenant_id) as http:
        partial = await http.post(
            "/v1/credit-notes",
            json={
                "invoice_id": invoice["id"],
                "reason": "Half day cancelled",
                "lines": [{"invoice_line_id": workshop["id"], "amount_minor": 50000}],
            },
        )
        too_much = await http.post(
            "/v1/credit-notes",
            json={
                "invoice_id": invoice["id"],
                "lines": [{"invoice_line_id": workshop["id"], "amount_minor": 50001}],
            },
        )
        rest = await http.post("/v1/credit-notes", json={"invoice_id": invoice["id"], "full": True})
        nothing_left = await http.post(
            "/v1/credit-notes", json={"invoice_id": invoice["id"], "full": True}
        )
        after = (await http.get(f"/v1/invoices/{invoice['id']}")).json()
        listed = await http.get("/v1/credit-notes", params={"invoice_id": invoice["id"]})
        pdf = await http.get(f"/v1/credit-notes/{partial.json()['id']}/pdf")
        void = await http.post(f"/v1/invoices/{invoice['id']}/void")
    assert partial.status_code == 201, partial.text
    p = partial.json()
    year = invoice["number"].split("-")[1]
    assert p["number"] == f"CN-{year}-00001"
    assert p["invoice_number"] == invoice["number"]
    # Half the workshop's share of the tax: 95.00 of 190.00.
    assert (p["subtotal_minor"], p["tax_minor"], p["total_minor"]) == (50000, 9500, 59500)
    assert too_much.status_code == 422
    assert too_much.json()["errors"][0]["pointer"] == "#/lines/0/amount_minor"
    assert rest.status_code == 201, rest.text
    assert rest.json()["number"] == f"CN-{year}-00002"
    assert p["total_minor"] + rest.json()["total_minor"] == invoice["total_minor"]
    assert nothing_left.status_code == 409
    assert after["amount_credited_minor"] == invoice["total_minor"]
    assert (after["balance_minor"], after["payment_status"]) == (0, "paid")
    assert [n["number"] for n in listed.json()["items"]] == [f"CN-{year}-00002", f"CN-{year}-00001"]
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert p["number"] in text
    assert invoice["number"] in text
    assert "595.00 EUR" in text
    assert void.status_code == 409  # credited invoices are not voided

    records = await read_topic(
        invoicing.infra.kafka.bootstrap_servers,
        "credit-note-issued",
        lambda r: r.key == invoice["id"].encode(),
        expected=2,
    )
    totals = sorted(decode_event(r.value).payload.total_minor for r in records)
    assert totals == sorted([p["total_minor"], rest.json()["total_minor"]])
    paid = await read_topic(
        invoicing.infra.kafka.bootstrap_servers,
        "invoice-paid",
        lambda r: r.key == invoice["id"].encode(),
        expected=1,
    )
    assert decode_event(paid[0].value).payload.amount_credited_minor == invoice["total_minor"]


async def test_credit_notes_need_an_issued_invoice_and_one_of_full_or_lines(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    client_id = await invoicing.client(tenant_id)
    line = {"description": "x", "quantity": "1", "unit_amount_minor": 100}
    async with invoicing.http(tenant_id) as http:
        body = {"client_id": str(client_id), "include_time": False, "lines": [line]}
        draft = (await http.post("/v1/invoices", json=body)).json()
        of_draft = await http.post(
            "/v1/credit-notes", json={"invoice_id": draft["id"], "full": True}
        )
        neither = await http.post("/v1/credit-notes", json={"invoice_id": draft["id"]})
        unknown = await http.post(
            "/v1/credit-notes", json={"invoice_id": str(uuid.uuid4()), "full": True}
        )
        wrong_line = await http.post(
            "/v1/credit-notes",
            json={
                "invoice_id": draft["id"],
                "lines": [{"invoice_line_id": str(uuid.uuid4()), "amount_minor": 1}],
            },
        )
        missing = await http.get(f"/v1/credit-notes/{uuid.uuid4()}")
    assert of_draft.status_code == 409
    assert neither.status_code == 422
    assert unknown.status_code == 404
    assert wrong_line.status_code == 409  # a draft cannot be credited, whatever the lines
    assert missing.status_code == 404


async def test_an_idempotency_key_credits_once_replays_and_refuses_another_body(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    invoice = await issued_invoice(invoicing, tenant_id)
    line_id = invoice["lines"][0]["id"]
    body = {
        "invoice_id": invoice["id"],
        "lines": [{"invoice_line_id": line_id, "amount_minor": 100}],
    }
    key = {"Idempotency-Key": f"refund-{uuid.uuid4()}"}
    async with invoicing.http(tenant_id) as http:
        together = await asyncio.gather(
            *(http.post("/v1/credit-notes", json=body, headers=key) for _ in range(5))
        )
        later = await http.post("/v1/credit-notes", json=body, headers=key)
        other_body = {**body, "reason": "different"}
        reused = await http.post("/v1/credit-notes", json=other_body, headers=key)
        # The four twins drafted a note each, then rolled back: the numbering has no gap.
        next_note = await http.post("/v1/credit-notes", json=body)
        notes = await http.get("/v1/credit-notes", params={"invoice_id": invoice["id"]})
        after = (await http.get(f"/v1/invoices/{invoice['id']}")).json()
        again_draft = {
            "client_id": invoice["client_id"],
            "include_time": False,
            "lines": [{"description": "x", "quantity": "1", "unit_amount_minor": 1}],
        }
        draft_key = {"Idempotency-Key": f"draft-{uuid.uuid4()}"}
        drafts = [
            await http.post("/v1/invoices", json=again_draft, headers=draft_key) for _ in range(2)
        ]
    assert [r.status_code for r in together] == [201] * 5
    assert len({r.json()["id"] for r in together}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in together) == 4
    assert later.json() == together[0].json()
    assert later.headers["Location"] == together[0].headers["Location"]
    assert reused.status_code == 422
    assert reused.json()["type"].endswith("/idempotency-key-reused")
    first_number = together[0].json()["number"]
    prefix, serial = first_number.rsplit("-", 1)
    assert next_note.json()["number"] == f"{prefix}-{int(serial) + 1:05d}"
    assert len(notes.json()["items"]) == 2
    assert after["amount_credited_minor"] == together[0].json()["total_minor"] * 2
    assert drafts[0].json()["id"] == drafts[1].json()["id"]
    assert drafts[1].headers["Idempotent-Replayed"] == "true"


async def test_idempotency_keys_older_than_a_day_are_purged(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    invoice = await issued_invoice(invoicing, tenant_id)
    key = f"old-{uuid.uuid4()}"
    async with invoicing.http(tenant_id) as http:
        first = await http.post(
            "/v1/credit-notes",
            json={"invoice_id": invoice["id"], "full": True},
            headers={"Idempotency-Key": key},
        )
    assert first.status_code == 201
    admin = await asyncpg.connect(invoicing.infra.admin_dsn())
    try:
        await admin.execute(
            "UPDATE invoicing.idempotency_keys SET created_at = now() - interval '25 hours' "
            "WHERE key = $1",
            key,
        )
    finally:
        await admin.close()
    assert await idempotency.purge_expired(invoicing.runtime.require_pool()) >= 1
    left = await invoicing.rows(tenant_id, "SELECT key FROM idempotency_keys WHERE key = $1", key)
    assert left == []
