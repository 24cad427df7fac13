"""A consumer's fetch wait: short while records come, long once they stopped (decision 42).

The wait lives in aiokafka's fetcher (`_fetch_max_wait_ms`, read for every fetch it builds);
the first test fails if a new aiokafka no longer has it there. The second shows a service's
consumer still applying events after a quiet spell, and at once again after the first.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.protocol.fetch import FetchRequest

from contracts.registry import encode_event
from servicekit.consumer import ConsumerPolicy, FetchPace
from servicekit.service import create_app
from servicekit.testing import Infra, eventually, serve

from .conftest import invoicing_timing_entries

pytestmark = pytest.mark.integration

TOPIC = "time-entry-logged"
GROUP = "invoicing"
IDLE_MS = 2_000


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_the_wait_lengthens_after_a_quiet_second_and_shortens_with_records(
    infra: Infra,
) -> None:
    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=infra.kafka.bootstrap_servers,
        group_id=f"pace-{uuid.uuid4()}",
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    try:
        clock = Clock()
        policy = ConsumerPolicy(fetch_max_wait_ms=20, idle_fetch_max_wait_ms=250)
        pace = FetchPace(consumer, policy, clock=clock)
        assert pace.wait_ms == 20

        clock.now += 0.9
        pace.polled(found=False)
        assert pace.wait_ms == 20  # quiet, but not for a second yet
        clock.now += 0.1
        pace.polled(found=False)
        assert pace.wait_ms == 250
        # The requests the live fetcher sends from now on carry it.
        sent: list[Any] = []
        send = consumer._client.send

        async def recording(node_id: int, request: Any, **kwargs: Any) -> Any:
            sent.append(request)
            return await send(node_id, request, **kwargs)

        def waits() -> list[int]:
            return [r._max_wait_ms for r in sent if isinstance(r, FetchRequest)]

        consumer._client.send = recording
        started = time.monotonic()
        # (One fetch built before the change may still go out with the short wait.)
        while 250 not in waits():
            await consumer.getmany(timeout_ms=100)
            assert time.monotonic() - started < 10, f"no fetch with the long wait: {waits()}"

        pace.polled(found=True)
        assert pace.wait_ms == 20
        clock.now += 0.5
        pace.polled(found=False)
        assert pace.wait_ms == 20  # the quiet second counts from the last records

        never = FetchPace(consumer, dataclasses.replace(policy, idle_fetch_max_wait_ms=0), clock)
        clock.now += 10
        never.polled(found=False)
        assert never.wait_ms == 20
    finally:
        await consumer.stop()


async def test_a_quiet_consumer_applies_the_next_event_within_its_idle_wait_then_at_once(
    infra: Infra, migrated: None, kafka: Any, make: Any, tenant_id: uuid.UUID
) -> None:
    definition, applied = invoicing_timing_entries(infra, consumer_idle_fetch_max_wait_ms=IDLE_MS)

    async def latency() -> float:
        entry = make.entry(tenant_id)
        event = make.event(entry)
        await kafka.produce(encode_event(event), key=str(entry.id).encode())
        sent = time.monotonic()

        async def done() -> bool:
            return event.event_id in applied

        await eventually(done, timeout=20, interval=0.005, message=f"{event.event_id}")
        return applied[event.event_id] - sent

    async with serve(create_app(definition)):
        await kafka.caught_up(GROUP)
        await asyncio.sleep(1.5)  # the quiet spell: no records for longer than a second
        after_quiet = await latency()
        then = [await latency() for _ in range(3)]

    # Within the idle wait (and its fetch's round trip); the events right after it, as fast
    # as the short wait allows.
    assert after_quiet < (IDLE_MS + 300) / 1000, after_quiet
    assert max(then) < 0.2, then


def test_a_consumer_without_the_fetchers_wait_keeps_its_own_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Fetcherless:
        """What a new aiokafka whose fetcher moved its wait elsewhere would look like."""

    clock = Clock()
    policy = ConsumerPolicy(fetch_max_wait_ms=20, idle_fetch_max_wait_ms=250)
    with caplog.at_level("ERROR"):
        pace = FetchPace(Fetcherless(), policy, clock=clock)
    clock.now += 5
    pace.polled(found=False)  # nothing to set, and no failure that would stop the polls
    pace.polled(found=True)
    assert "idle fetch waits are off" in caplog.text
