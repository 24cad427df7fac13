"""A consumer at rest applies a new event as soon as it is fetched: its poll of the fetched
records waits inside aiokafka, which fetched records end, never in a sleep they cannot end.

FastStream's own batch poll, after waiting `poll_timeout_ms` for nothing, slept as long again;
an event fetched meanwhile waited out the sleep (`servicekit.consumer`, decision 40).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from contracts.registry import encode_event
from servicekit.service import create_app
from servicekit.testing import Infra, eventually, serve

from .conftest import invoicing_timing_entries

pytestmark = pytest.mark.integration

TOPIC = "time-entry-logged"
GROUP = "invoicing"
POLL_MS = 1000


async def test_an_event_arriving_while_the_consumer_idles_is_applied_without_waiting_a_poll_out(
    infra: Infra, migrated: None, kafka: Any, make: Any, tenant_id: uuid.UUID
) -> None:
    # Without the long wait of a quiet consumer (decision 42): what is measured is the poll.
    definition, applied = invoicing_timing_entries(
        infra, consumer_poll_timeout_ms=POLL_MS, consumer_idle_fetch_max_wait_ms=0
    )
    async with serve(create_app(definition)):
        await kafka.caught_up(GROUP)
        latencies = []
        for _ in range(3):
            entry = make.entry(tenant_id)
            event = make.event(entry)
            await kafka.produce(encode_event(event), key=str(entry.id).encode())
            sent = time.monotonic()

            async def done(event_id: uuid.UUID = event.event_id) -> bool:
                return event_id in applied

            await eventually(done, timeout=20, interval=0.005, message=f"{event.event_id}")
            latencies.append(applied[event.event_id] - sent)
            # The next event comes 1.4 polls after this one was applied: a consumer that
            # waited one poll for nothing and then slept another would be asleep then.
            await asyncio.sleep(1.4 * POLL_MS / 1000)

    assert max(latencies) < 0.3 * POLL_MS / 1000, latencies
