"""A write that fails inside the transaction leaves neither the entry nor its event."""

from __future__ import annotations

import dataclasses
import uuid
from typing import TYPE_CHECKING

import httpx
import pytest

from servicekit.clock import uuid7
from servicekit.problems import PROBLEM_JSON
from servicekit.service import Runtime, create_app
from servicekit.testing import Infra, serve
from timecapture.app import define
from timecapture.settings import TimecaptureSettings

if TYPE_CHECKING:
    from conftest import Catalog, TimecaptureProbe

pytestmark = pytest.mark.integration


async def test_failed_enqueue_rolls_back_the_entry(
    infra: Infra,
    http: httpx.AsyncClient,
    probe: TimecaptureProbe,
    tenant_id: uuid.UUID,
    catalog: Catalog,
) -> None:
    first_entry, event_id, second_entry = uuid7(), uuid7(), uuid7()
    # The second entry reuses the first event id, still in the outbox: its enqueue must fail
    # after its row was inserted, in the same transaction.
    ids = iter([first_entry, event_id, second_entry, event_id])
    definition = dataclasses.replace(
        define(infra.settings(TimecaptureSettings)), new_id=lambda: next(ids)
    )
    app = create_app(definition)
    async with serve(app) as url:
        runtime: Runtime = app.state.runtime
        assert runtime.relay is not None
        await runtime.relay.stop()

        ok = await http.post(
            f"{url}/v1/time-entries",
            json=probe.entry_body(catalog),
            headers=probe.headers(tenant_id),
        )
        assert ok.status_code == 201, ok.text
        failed = await http.post(
            f"{url}/v1/time-entries",
            json=probe.entry_body(catalog),
            headers=probe.headers(tenant_id),
        )
        assert failed.status_code == 500
        assert failed.headers["content-type"] == PROBLEM_JSON

        assert [row["id"] for row in await probe.entries(tenant_id)] == [first_entry]
        assert [row["event_id"] for row in await probe.outbox(tenant_id)] == [event_id]

        assert await runtime.relay.drain() >= 1
        [message] = await probe.published(tenant_id)
        assert message.event.event_id == event_id
        assert message.event.payload.entry_id == first_entry
