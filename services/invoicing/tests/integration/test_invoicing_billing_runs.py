"""Billing runs: one invoice per client with unbilled time, no duplicate on a re-run."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from invoicing.handlers import billing_runs
from servicekit.testing import eventually

from .conftest import Invoicing

pytestmark = pytest.mark.integration

DAY = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0) - timedelta(days=2)
PERIOD = {"period_start": str((DAY - timedelta(days=3)).date()), "period_end": str(DAY.date())}


async def priced(inv: Invoicing, tenant: uuid.UUID, *, rate: bool = True) -> uuid.UUID:
    client_id = await inv.client(tenant)
    project_id = await inv.project(tenant, client_id)
    if rate:
        async with inv.http(tenant) as http:
            r = await http.post(
                "/v1/rate-rules",
                json={
                    "kind": "hourly",
                    "client_id": str(client_id),
                    "currency": "EUR",
                    "amount_minor": 12000,
                    "effective_from": "2020-01-01",
                },
            )
            assert r.status_code == 201, r.text
    for hours_back in (0, 3):
        await inv.entry(
            tenant, project_id, started_at=DAY - timedelta(hours=hours_back), minutes=90
        )
    return client_id


async def finished(inv: Invoicing, tenant: uuid.UUID, location: str) -> dict[str, Any]:
    async with inv.http(tenant) as http:

        async def probe() -> dict[str, Any] | None:
            body: dict[str, Any] = (await http.get(location)).json()
            return body if body["status"] == "completed" else None

        done: dict[str, Any] = await eventually(probe, message="billing run completed")
        return done


async def test_a_run_bills_each_client_once_and_reports_who_it_could_not_bill(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    billed = [await priced(invoicing, tenant_id) for _ in range(3)]
    unpriced = await priced(invoicing, tenant_id, rate=False)
    async with invoicing.http(tenant_id) as http:
        started = await http.post("/v1/billing-runs", json={**PERIOD, "auto_issue": True})
        assert started.status_code == 202, started.text
        run = await finished(invoicing, tenant_id, started.headers["Location"])
        invoices = (
            await http.get("/v1/invoices", params={"billing_run_id": run["id"], "limit": 50})
        ).json()["items"]
        again = await http.post("/v1/billing-runs", json={**PERIOD, "auto_issue": True})
        rerun = await finished(invoicing, tenant_id, again.headers["Location"])
        listed = await http.get("/v1/billing-runs")
    assert sorted(i["client_id"] for i in invoices) == sorted(str(c) for c in billed)
    assert {i["status"] for i in invoices} == {"issued"}
    # 2 x 1.5 h at 120.00 per client.
    assert {i["total_minor"] for i in invoices} == {36000}
    assert run["totals"] == [{"currency": "EUR", "invoices": 3, "issued": 3, "total_minor": 108000}]
    assert [(f["client_id"], f["problem_type"]) for f in run["failures"]] == [
        (str(unpriced), "rate-missing")
    ]
    # The second run finds only the client it could not price, and fails it again.
    assert rerun["totals"] == []
    assert [f["client_id"] for f in rerun["failures"]] == [str(unpriced)]
    assert [r["id"] for r in listed.json()["items"]] == [rerun["id"], run["id"]]


async def test_two_workers_on_one_run_draft_each_client_once(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    clients = [await priced(invoicing, tenant_id) for _ in range(6)]
    async with invoicing.http(tenant_id) as http:
        # Started through the API, then raced by two more workers of the same run.
        started = await http.post("/v1/billing-runs", json=PERIOD)
        run_id = uuid.UUID(started.json()["id"])
        await asyncio.gather(
            billing_runs.process_run(invoicing.runtime, tenant_id, run_id, concurrency=3),
            billing_runs.process_run(invoicing.runtime, tenant_id, run_id, concurrency=3),
        )
        run = await finished(invoicing, tenant_id, started.headers["Location"])
        invoices = (
            await http.get("/v1/invoices", params={"billing_run_id": str(run_id), "limit": 50})
        ).json()["items"]
    assert sorted(i["client_id"] for i in invoices) == sorted(str(c) for c in clients)
    assert {i["status"] for i in invoices} == {"draft"}
    assert run["failures"] == []
    entries = await invoicing.rows(
        tenant_id, "SELECT entry_id, count(*) AS n FROM invoice_entries GROUP BY entry_id"
    )
    assert len(entries) == 12
    assert {e["n"] for e in entries} == {1}


async def test_a_batch_the_database_refuses_is_drafted_client_by_client(
    invoicing: Invoicing, tenant_id: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    clients = [await priced(invoicing, tenant_id) for _ in range(3)]
    batches: list[int] = []

    async def refused(conn: Any, runtime: Any, tenant: Any, cmds: Any, settings: Any) -> Any:
        batches.append(len(cmds))
        # As asyncpg raises for a value past bigint in one client's rows.
        raise asyncpg.DataError("value out of range for type bigint")

    monkeypatch.setattr(billing_runs, "draft_many_in", refused)
    async with invoicing.http(tenant_id) as http:
        started = await http.post("/v1/billing-runs", json=PERIOD)
        run = await finished(invoicing, tenant_id, started.headers["Location"])
        invoices = (
            await http.get("/v1/invoices", params={"billing_run_id": run["id"], "limit": 50})
        ).json()["items"]
    assert sum(batches) == 3  # every client went through a refused batch first
    assert sorted(i["client_id"] for i in invoices) == sorted(str(c) for c in clients)
    assert run["failures"] == []


async def test_bad_runs_are_refused(invoicing: Invoicing, tenant_id: uuid.UUID) -> None:
    async with invoicing.http(tenant_id) as http:
        backwards = await http.post(
            "/v1/billing-runs", json={"period_start": "2026-03-02", "period_end": "2026-03-01"}
        )
        too_long = await http.post(
            "/v1/billing-runs", json={"period_start": "2024-01-01", "period_end": "2026-01-01"}
        )
        unknown = await http.get(f"/v1/billing-runs/{uuid.uuid4()}")
    async with invoicing.http(tenant_id, "member") as member:
        forbidden = await member.post("/v1/billing-runs", json=PERIOD)
    assert backwards.status_code == 422
    assert too_long.status_code == 422
    assert unknown.status_code == 404
    assert forbidden.status_code == 403


async def test_a_run_bills_a_retainer_client_without_time_once(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    client_id = await invoicing.client(tenant_id)
    first_day = DAY.date().replace(day=1)
    async with invoicing.http(tenant_id) as http:
        rule = await http.post(
            "/v1/rate-rules",
            json={
                "kind": "monthly_retainer",
                "client_id": str(client_id),
                "currency": "EUR",
                "amount_minor": 300000,
                "effective_from": str(first_day),
                "description": "Support",
            },
        )
        assert rule.status_code == 201, rule.text
        month = {"period_start": str(first_day), "period_end": str(DAY.date())}
        first = await http.post("/v1/billing-runs", json=month)
        done = await finished(invoicing, tenant_id, first.headers["Location"])
        again = await http.post("/v1/billing-runs", json=month)
        redone = await finished(invoicing, tenant_id, again.headers["Location"])
        invoices = (await http.get("/v1/invoices", params={"client_id": str(client_id)})).json()[
            "items"
        ]
    assert done["totals"] == [
        {"currency": "EUR", "invoices": 1, "issued": 0, "total_minor": 300000}
    ]
    # The month is billed: the second run drafts nothing and reports no failure.
    assert (redone["totals"], redone["failures"]) == ([], [])
    assert len(invoices) == 1
