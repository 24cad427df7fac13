"""Entries revised or deleted after their invoice was issued: adjusted once, on the next one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from .conftest import Invoicing

pytestmark = pytest.mark.integration

DAY = datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0) - timedelta(days=4)


async def billed_client(inv: Invoicing, tenant: uuid.UUID) -> dict[str, Any]:
    client_id = await inv.client(tenant)
    project_id = await inv.project(tenant, client_id)
    async with inv.http(tenant) as http:
        rule = {
            "kind": "hourly",
            "client_id": str(client_id),
            "currency": "EUR",
            "amount_minor": 10000,
            "effective_from": "2020-01-01",
        }
        assert (await http.post("/v1/rate-rules", json=rule)).status_code == 201
    revised = await inv.entry(tenant, project_id, started_at=DAY, minutes=60)
    removed = await inv.entry(tenant, project_id, started_at=DAY + timedelta(hours=2), minutes=30)
    async with inv.http(tenant) as http:
        draft = (await http.post("/v1/invoices", json={"client_id": str(client_id)})).json()
        issued = (await http.post(f"/v1/invoices/{draft['id']}/issue")).json()
    assert issued["subtotal_minor"] == 15000
    return {
        "client_id": client_id,
        "project_id": project_id,
        "revised": revised,
        "removed": removed,
        "invoice": issued,
    }


async def test_revised_and_deleted_billed_time_is_adjusted_once_on_the_next_invoice(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    b = await billed_client(invoicing, tenant_id)
    project, first = b["project_id"], b["invoice"]
    # After the issue (before timecapture locked them): one entry grew, one was deleted.
    await invoicing.entry(
        tenant_id, project, started_at=DAY, minutes=90, entry_id=b["revised"], version=2
    )
    await invoicing.entry(
        tenant_id,
        project,
        started_at=DAY + timedelta(hours=2),
        minutes=30,
        entry_id=b["removed"],
        version=2,
        event_type="time_entry.deleted",
    )

    async def ledger_deleted() -> bool:
        found = await invoicing.rows(
            tenant_id, "SELECT deleted FROM ledger_entries WHERE entry_id = $1", b["removed"]
        )
        return bool(found[0]["deleted"])

    assert await ledger_deleted()
    fresh = await invoicing.entry(
        tenant_id, project, started_at=DAY + timedelta(hours=5), minutes=60
    )
    body = {"client_id": str(b["client_id"])}
    async with invoicing.http(tenant_id) as http:
        abandoned = (await http.post("/v1/invoices", json=body)).json()
        assert (await http.delete(f"/v1/invoices/{abandoned['id']}")).status_code == 204
        second = (await http.post("/v1/invoices", json=body)).json()
        issued = await http.post(f"/v1/invoices/{second['id']}/issue")
        third = await http.post("/v1/invoices", json=body)
        void_first = await http.post(f"/v1/invoices/{first['id']}/void")
    assert issued.status_code == 200, issued.text
    adjustments = {
        line["time_entry_ids"][0]: line for line in second["lines"] if line["kind"] == "adjustment"
    }
    grew, gone = adjustments[str(b["revised"])], adjustments[str(b["removed"])]
    # 1.0 h billed, now 1.5 h: +50.00. 0.5 h billed, now deleted: -50.00.
    assert (grew["amount_minor"], grew["adjusts_invoice_id"]) == (5000, first["id"])
    assert (gone["amount_minor"], gone["adjusts_invoice_id"]) == (-5000, first["id"])
    assert first["number"] in grew["description"]
    new_time = [line for line in second["lines"] if line["kind"] == "time"]
    assert [line["time_entry_ids"] for line in new_time] == [[str(fresh)]]
    assert second["subtotal_minor"] == 10000
    # Billed once: a third draft finds nothing, and the adjusted invoice cannot be voided.
    assert third.status_code == 409
    assert third.json()["type"].endswith("/nothing-to-bill")
    assert void_first.status_code == 409
    held = await invoicing.rows(
        tenant_id,
        "SELECT entry_id, invoice_id, entry_version, active FROM invoice_entries "
        "WHERE entry_id = ANY($1::uuid[]) ORDER BY entry_id, entry_version",
        [b["revised"], b["removed"]],
    )
    by_entry: dict[uuid.UUID, list[tuple[str, int, bool]]] = {}
    for r in held:
        by_entry.setdefault(r["entry_id"], []).append(
            (str(r["invoice_id"]), r["entry_version"], r["active"])
        )
    assert by_entry[b["revised"]] == [(first["id"], 1, False), (second["id"], 2, True)]
    assert by_entry[b["removed"]] == [(first["id"], 1, False), (second["id"], 2, False)]


async def test_a_revision_that_bills_the_same_time_changes_no_figure(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    b = await billed_client(invoicing, tenant_id)
    # Same 60 minutes, moved by 10 minutes (a typo fix): nothing to adjust.
    await invoicing.entry(
        tenant_id,
        b["project_id"],
        started_at=DAY + timedelta(minutes=10),
        minutes=60,
        entry_id=b["revised"],
        version=2,
    )
    async with invoicing.http(tenant_id) as http:
        nothing = await http.post("/v1/invoices", json={"client_id": str(b["client_id"])})
    assert nothing.status_code == 409
    assert nothing.json()["type"].endswith("/nothing-to-bill")


async def test_credit_notes_and_adjustments_never_give_back_the_same_time_twice(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    credited, adjusted = (
        await billed_client(invoicing, tenant_id),
        await billed_client(invoicing, tenant_id),
    )
    async with invoicing.http(tenant_id) as http:
        note = await http.post(
            "/v1/credit-notes", json={"invoice_id": credited["invoice"]["id"], "full": True}
        )
        assert note.status_code == 201, note.text
    # Credited first, then the entry is deleted: the credit note settled it, no reversal.
    await invoicing.entry(
        tenant_id,
        credited["project_id"],
        started_at=DAY,
        minutes=60,
        entry_id=credited["removed"],
        version=2,
        event_type="time_entry.deleted",
    )
    # Adjusted first (on a draft), then a credit note on the adjusted line is refused.
    await invoicing.entry(
        tenant_id,
        adjusted["project_id"],
        started_at=DAY,
        minutes=120,
        entry_id=adjusted["revised"],
        version=2,
    )
    async with invoicing.http(tenant_id) as http:
        nothing = await http.post("/v1/invoices", json={"client_id": str(credited["client_id"])})
        adjusting = await http.post("/v1/invoices", json={"client_id": str(adjusted["client_id"])})
        line_id = adjusted["invoice"]["lines"][0]["id"]
        refused = await http.post(
            "/v1/credit-notes",
            json={
                "invoice_id": adjusted["invoice"]["id"],
                "lines": [{"invoice_line_id": line_id, "amount_minor": 100}],
            },
        )
    assert nothing.status_code == 409
    assert nothing.json()["type"].endswith("/nothing-to-bill")
    assert adjusting.status_code == 201, adjusting.text
    assert [x["kind"] for x in adjusting.json()["lines"]] == ["adjustment"]
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/line-adjusted")
