"""payments starts on the real Postgres and broker, with the kit's tables in its schema."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from payments.app import define
from payments.settings import PaymentsSettings
from servicekit.service import create_app
from servicekit.testing import Infra, serve

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def payments_url(infra: Infra) -> AsyncIterator[str]:
    async with serve(create_app(define(infra.settings(PaymentsSettings)))) as url:
        yield url


async def test_ready_with_database_migrations_and_broker(payments_url: str) -> None:
    async with httpx.AsyncClient() as http:
        live = await http.get(f"{payments_url}/livez")
        ready = await http.get(f"{payments_url}/readyz")

    assert live.status_code == 200
    assert ready.status_code == 200, ready.text
    assert ready.json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "broker": "ok"},
    }


async def test_metrics_are_prometheus_text(payments_url: str) -> None:
    async with httpx.AsyncClient() as http:
        await http.get(f"{payments_url}/livez")
        r = await http.get(f"{payments_url}/metrics")

    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    [info] = families["service_info"].samples
    assert info.labels == {"service": "payments"}
    assert info.value == 1.0
    assert any(
        s.labels == {"method": "GET", "route": "/livez", "status": "200"} and s.value >= 1
        for s in families["http_requests"].samples
        if s.name == "http_requests_total"
    )


async def test_kit_tables_live_in_its_own_schema(infra: Infra, payments_url: str) -> None:
    conn = await asyncpg.connect(infra.dsn("payments"))
    try:
        tables = {
            (r["table_schema"], r["table_name"])
            for r in await conn.fetch(
                "SELECT table_schema, table_name FROM information_schema.tables"
                " WHERE table_name IN ('outbox', 'inbox', 'schema_migrations')"
            )
        }
        applied = await conn.fetch("SELECT source, version FROM payments.schema_migrations")
        search_path = await conn.fetchval("SHOW search_path")
    finally:
        await conn.close()

    assert tables == {
        ("payments", "outbox"),
        ("payments", "inbox"),
        ("payments", "schema_migrations"),
    }
    assert [(r["source"], r["version"]) for r in applied] == [
        ("servicekit", "0001_outbox_inbox_tenancy")
    ]
    assert search_path == "payments"
