"""RELIABILITY pitfall 6: pooled connections die with a Postgres restart; work is retried."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from servicekit.service import create_app
from servicekit.testing import Infra, eventually, serve
from timecapture.app import define
from timecapture.settings import TimecaptureSettings

if TYPE_CHECKING:
    from conftest import Catalog, TimecaptureProbe

pytestmark = pytest.mark.integration


async def test_entries_are_accepted_after_a_postgres_restart_exactly_once(
    infra: Infra, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    app = create_app(define(infra.settings(TimecaptureSettings, db_pool_min_size=4)))
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        before = await http.post(
            "/v1/time-entries", json=probe.entry_body(catalog), headers=probe.headers(tenant_id)
        )
        assert before.status_code == 201, before.text

        # Every pooled connection is now dead, but the pool does not know it yet.
        await asyncio.to_thread(infra.cluster.restart)

        after = await http.post(
            "/v1/time-entries", json=probe.entry_body(catalog), headers=probe.headers(tenant_id)
        )
        assert after.status_code == 201, after.text

        await probe.outbox_drained(tenant_id)
        stored = sorted(str(r["id"]) for r in await probe.entries(tenant_id))
        assert stored == sorted([before.json()["id"], after.json()["id"]])

        async def all_published() -> list[Any]:
            found = await probe.published(tenant_id)
            return found if {str(p.event.payload.entry_id) for p in found} == set(stored) else []

        published = await eventually(all_published, timeout=15, message="both entries published")
        # A relay whose COMMIT died with the database sends its batch again: a message may
        # repeat (consumers absorb it by event id), an event may not (one event id per entry).
        events = {(str(p.event.payload.entry_id), p.event.event_id) for p in published}
        assert sorted(entry for entry, _ in events) == stored
