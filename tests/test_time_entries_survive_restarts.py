"""No time entry event is lost or applied twice downstream when timecapture (with its relay)
stops with events still in its outbox and a new instance takes over."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from invoicing.app import define as define_invoicing
from invoicing.settings import InvoicingSettings
from servicekit.identity import IDENTITY_HEADER, Identity
from servicekit.service import Runtime, create_app
from servicekit.testing import Infra, eventually, read_topic, serve
from timecapture.app import define as define_timecapture
from timecapture.settings import TimecaptureSettings


async def seed(http: httpx.AsyncClient) -> dict[str, str]:
    client = await http.post("/v1/clients", json={"name": f"C {uuid.uuid4()}", "currency": "EUR"})
    assert client.status_code == 201, client.text
    project = await http.post("/v1/projects", json={"client_id": client.json()["id"], "name": "P"})
    member = await http.post("/v1/members", json={"name": "M", "email": f"{uuid.uuid4()}@x.io"})
    assert project.status_code == member.status_code == 201
    return {"project_id": project.json()["id"], "member_id": member.json()["id"]}


async def log(http: httpx.AsyncClient, catalog: dict[str, str], n: int, first: int) -> list[str]:
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    ids = []
    for i in range(first, first + n):
        body: dict[str, Any] = {
            **catalog,
            "started_at": (base + timedelta(hours=i)).isoformat(),
            "duration_minutes": 30,
        }
        r = await http.post("/v1/time-entries", json=body)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


async def unpublished(infra: Infra, tenant_id: uuid.UUID) -> int:
    conn = await asyncpg.connect(infra.dsn("timecapture"))
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM outbox"
            " WHERE convert_from(value, 'UTF8')::jsonb ->> 'tenant_id' = $1",
            str(tenant_id),
        )
        return count
    finally:
        await conn.close()


async def test_restarted_timecapture_delivers_every_entry_once(
    infra: Infra, tenant_id: uuid.UUID
) -> None:
    headers = {IDENTITY_HEADER: infra.token(Identity(tenant_id, "ops", "admin"))}
    settings = infra.settings(TimecaptureSettings)
    async with serve(create_app(define_invoicing(infra.settings(InvoicingSettings)))):
        first_app = create_app(define_timecapture(settings))
        async with (
            serve(first_app) as url,
            httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as http,
        ):
            catalog = await seed(http)
            published = await log(http, catalog, 5, 0)
            relay = first_app.state.runtime.relay
            assert relay is not None
            await relay.stop()
            stranded = await log(http, catalog, 5, 5)
        # The first instance is gone with five events still in its outbox.
        assert await unpublished(infra, tenant_id) >= 5

        second_app = create_app(define_timecapture(settings))
        async with (
            serve(second_app) as url,
            httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as http,
        ):
            later = await log(http, catalog, 5, 10)
            expected = sorted(published + stranded + later)

            async def ledger() -> list[str]:
                rows = await infra.fetch_as_tenant(
                    "invoicing", tenant_id, "SELECT entry_id, version FROM ledger_entries"
                )
                assert all(r["version"] == 1 for r in rows)
                found = sorted(str(r["entry_id"]) for r in rows)
                return found if len(found) >= len(expected) else []

            assert (
                await eventually(ledger, timeout=30, message="all entries in the ledger")
                == expected
            )
            runtime: Runtime = second_app.state.runtime
            assert runtime.relay is not None
            assert await unpublished(infra, tenant_id) == 0

    # On the topic: one event per entry, whichever instance's relay sent it (a relay stopped
    # mid-batch may send a message again: same event id, absorbed); downstream, invoicing
    # applied each event once (one inbox row per event id).
    seen: set[bytes] = set()
    ours = {entry_id.encode() for entry_id in expected}

    def new_event_of_ours(record: Any) -> bool:
        # Other suites put poison on this topic too: keyless, headerless, not UTF-8.
        if record.key not in ours:
            return False
        event_id = dict(record.headers)["event_id"]
        if event_id in seen:
            return False
        seen.add(event_id)
        return True

    records = await read_topic(
        infra.kafka.bootstrap_servers,
        "time-entry-logged",
        new_event_of_ours,
        expected=len(expected),
        # From the start of a topic the whole session has written to.
        timeout=30,
    )
    event_ids = {dict(r.headers)["event_id"].decode() for r in records}
    assert sorted({r.key.decode() for r in records}) == expected
    assert len(event_ids) == len(expected)
    inbox = await infra.fetch_as_tenant(
        "invoicing",
        tenant_id,
        "SELECT event_id::text AS id, count(*) AS n FROM inbox"
        " WHERE consumer = 'invoicing.time-entry-logged' AND event_id = ANY($1::uuid[])"
        " GROUP BY 1",
        list(event_ids),
    )
    assert {r["id"]: r["n"] for r in inbox} == dict.fromkeys(event_ids, 1)
