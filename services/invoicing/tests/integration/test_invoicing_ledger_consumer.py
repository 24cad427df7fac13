"""`time-entry-logged` events through the real broker into invoicing's unbilled ledger."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from contracts.envelope import EventEnvelope
from contracts.events.time_entries import TimeEntryState
from contracts.registry import build_event, encode_event, event_key
from contracts.topics import TOPICS, dlq_topic
from invoicing.app import define
from invoicing.settings import InvoicingSettings
from servicekit.service import create_app
from servicekit.testing import Infra, eventually, serve

pytestmark = pytest.mark.integration

TOPIC = "time-entry-logged"
CONSUMER = "invoicing.time-entry-logged"
GROUP = "invoicing"  # the Kafka group of all of invoicing's topics
START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


@pytest.fixture(scope="module")
async def invoicing_url(infra: Infra) -> AsyncIterator[str]:
    async with serve(create_app(define(infra.settings(InvoicingSettings)))) as url:
        yield url


@pytest.fixture(scope="module")
async def producer(infra: Infra) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka.bootstrap_servers)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


def entry_state(
    entry_id: uuid.UUID, version: int, *, minutes: int = 60, description: str = "work"
) -> TimeEntryState:
    return TimeEntryState(
        entry_id=entry_id,
        version=version,
        member_id=uuid.UUID(int=7),
        project_id=uuid.UUID(int=9),
        task="build",
        description=description,
        started_at=START,
        ended_at=START + timedelta(minutes=minutes),
        duration_seconds=minutes * 60,
        billable=True,
        tags=["backend"],
    )


def event(event_type: str, tenant_id: uuid.UUID, payload: TimeEntryState) -> EventEnvelope[Any]:
    return build_event(
        event_type,
        payload,
        tenant_id=tenant_id,
        producer="timecapture",
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
    )


async def produce(producer: AIOKafkaProducer, *events: EventEnvelope[Any]) -> None:
    for e in events:
        await producer.send_and_wait(TOPIC, encode_event(e), key=event_key(e))


async def ledger(infra: Infra, tenant_id: uuid.UUID) -> list[asyncpg.Record]:
    return await infra.fetch_as_tenant(
        "invoicing", tenant_id, "SELECT * FROM ledger_entries ORDER BY entry_id"
    )


async def ledger_row_at(
    infra: Infra, tenant_id: uuid.UUID, version: int, *, deleted: bool = False
) -> asyncpg.Record:
    async def probe() -> asyncpg.Record | None:
        rows = await ledger(infra, tenant_id)
        assert len(rows) <= 1, rows
        if rows and rows[0]["version"] == version and rows[0]["deleted"] == deleted:
            return rows[0]
        return None

    row: asyncpg.Record = await eventually(probe, message=f"ledger row at version {version}")
    return row


async def processed(infra: Infra, event_id: uuid.UUID) -> None:
    """Wait until invoicing's inbox holds the event: its transaction has committed."""

    async def probe() -> bool:
        conn = await asyncpg.connect(infra.dsn("invoicing"))
        try:
            return bool(
                await conn.fetchval(
                    "SELECT count(*) FROM inbox WHERE consumer = $1 AND event_id = $2",
                    CONSUMER,
                    event_id,
                )
            )
        finally:
            await conn.close()

    await eventually(probe, message=f"event {event_id} in the inbox")


async def consumed(url: str, outcome: str) -> float:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{url}/metrics")).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "consumer_messages_total"
        and sample.labels.get("consumer") == CONSUMER
        and sample.labels.get("outcome") == outcome
    )


async def test_logged_event_adds_a_ledger_row(
    infra: Infra, invoicing_url: str, producer: AIOKafkaProducer, tenant_id: uuid.UUID
) -> None:
    entry_id = uuid.uuid4()
    logged = event("time_entry.logged", tenant_id, entry_state(entry_id, 1, minutes=95))

    await produce(producer, logged)

    row = await ledger_row_at(infra, tenant_id, 1)
    assert row["entry_id"] == entry_id
    assert row["tenant_id"] == tenant_id
    assert row["duration_seconds"] == 95 * 60
    assert row["started_at"] == START
    assert row["ended_at"] == START + timedelta(minutes=95)
    assert row["billable"] is True
    assert row["tags"] == ["backend"]
    assert row["task"] == "build"
    assert row["source_event_id"] == logged.event_id


async def test_revision_updates_the_row(
    infra: Infra, invoicing_url: str, producer: AIOKafkaProducer, tenant_id: uuid.UUID
) -> None:
    entry_id = uuid.uuid4()
    await produce(producer, event("time_entry.logged", tenant_id, entry_state(entry_id, 1)))
    await ledger_row_at(infra, tenant_id, 1)

    revised = event(
        "time_entry.revised", tenant_id, entry_state(entry_id, 2, minutes=30, description="fixed")
    )
    await produce(producer, revised)

    row = await ledger_row_at(infra, tenant_id, 2)
    assert row["entry_id"] == entry_id
    assert row["duration_seconds"] == 30 * 60
    assert row["description"] == "fixed"
    assert row["source_event_id"] == revised.event_id
    assert row["deleted"] is False


async def test_stale_version_after_newer_one_changes_nothing(
    infra: Infra, invoicing_url: str, producer: AIOKafkaProducer, tenant_id: uuid.UUID
) -> None:
    entry_id = uuid.uuid4()
    await produce(
        producer,
        event("time_entry.logged", tenant_id, entry_state(entry_id, 1)),
        event("time_entry.revised", tenant_id, entry_state(entry_id, 2, minutes=45)),
    )
    before = await ledger_row_at(infra, tenant_id, 2)

    stale = event("time_entry.logged", tenant_id, entry_state(entry_id, 1, description="stale"))
    await produce(producer, stale)
    await processed(infra, stale.event_id)

    assert await ledger(infra, tenant_id) == [before]


async def test_older_version_arriving_last_changes_nothing(
    infra: Infra, invoicing_url: str, producer: AIOKafkaProducer, tenant_id: uuid.UUID
) -> None:
    entry_id = uuid.uuid4()
    revised = event("time_entry.revised", tenant_id, entry_state(entry_id, 2, minutes=20))
    logged = event("time_entry.logged", tenant_id, entry_state(entry_id, 1, minutes=80))

    await produce(producer, revised, logged)
    await processed(infra, logged.event_id)

    [row] = await ledger(infra, tenant_id)
    assert row["version"] == 2
    assert row["duration_seconds"] == 20 * 60
    assert row["source_event_id"] == revised.event_id


async def test_deleted_event_marks_the_row_deleted(
    infra: Infra, invoicing_url: str, producer: AIOKafkaProducer, tenant_id: uuid.UUID
) -> None:
    entry_id = uuid.uuid4()
    await produce(producer, event("time_entry.logged", tenant_id, entry_state(entry_id, 1)))
    await ledger_row_at(infra, tenant_id, 1)

    deleted = event("time_entry.deleted", tenant_id, entry_state(entry_id, 2))
    await produce(producer, deleted)

    row = await ledger_row_at(infra, tenant_id, 2, deleted=True)
    assert row["entry_id"] == entry_id
    assert row["source_event_id"] == deleted.event_id


async def test_same_event_twice_has_one_effect(
    infra: Infra,
    invoicing_url: str,
    producer: AIOKafkaProducer,
    tenant_id: uuid.UUID,
    span_exporter: InMemorySpanExporter,
) -> None:
    entry_id = uuid.uuid4()
    logged = event("time_entry.logged", tenant_id, entry_state(entry_id, 1))
    await caught_up(infra)
    duplicates = await consumed(invoicing_url, "duplicate")
    applied = await consumed(invoicing_url, "processed")

    await produce(producer, logged)
    first = await ledger_row_at(infra, tenant_id, 1)
    await produce(producer, logged)

    async def duplicate_seen() -> bool:
        return await consumed(invoicing_url, "duplicate") > duplicates

    await eventually(duplicate_seen, message="redelivery counted as duplicate")
    assert await consumed(invoicing_url, "duplicate") - duplicates == 1
    assert await consumed(invoicing_url, "processed") - applied == 1
    assert await ledger(infra, tenant_id) == [first]
    handled = [
        span
        for span in span_exporter.get_finished_spans()
        if span.name == f"{TOPIC} process"
        and (span.attributes or {}).get("messaging.message.id") == str(logged.event_id)
    ]
    assert len(handled) == 1


async def caught_up(infra: Infra) -> None:
    """Wait until invoicing committed everything on the topic, so its counters start quiet."""
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka.bootstrap_servers)
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.kafka.bootstrap_servers)
    await admin.start()
    await consumer.start()
    try:
        partitions = [TopicPartition(TOPIC, p) for p in range(TOPICS[TOPIC].partitions)]
        ends = await consumer.end_offsets(partitions)

        async def done() -> bool:
            committed = await admin.list_consumer_group_offsets(GROUP, partitions=partitions)
            # -1 or absent: the group never committed on that partition.
            return all(
                max(committed[tp].offset if tp in committed else 0, 0) >= end
                for tp, end in ends.items()
            )

        await eventually(done, message="invoicing caught up with the topic")
    finally:
        await consumer.stop()
        await admin.close()


async def test_poison_message_goes_to_dlq_without_blocking_the_entry(
    infra: Infra, invoicing_url: str, producer: AIOKafkaProducer, tenant_id: uuid.UUID
) -> None:
    entry_id = uuid.uuid4()
    marker = str(uuid.uuid4())
    poison = f'{{"not": "an event", "marker": "{marker}"}}'.encode()
    logged = event("time_entry.logged", tenant_id, entry_state(entry_id, 1))

    # Same key, so the poison message sits just before the good one in one partition.
    await producer.send_and_wait(TOPIC, poison, key=str(entry_id).encode())
    await produce(producer, logged)

    row = await ledger_row_at(infra, tenant_id, 1)
    assert row["source_event_id"] == logged.event_id
    [headers] = await dead_letters(infra, marker)
    assert headers["dlq.consumer"] == CONSUMER
    assert headers["dlq.original_topic"] == TOPIC
    assert headers["dlq.error_type"] == "ValidationError"


async def dead_letters(infra: Infra, marker: str) -> list[dict[str, str]]:
    """Headers of every dead letter whose value carries `marker`, read from earliest."""
    dlq = dlq_topic(TOPIC)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=infra.kafka.bootstrap_servers,
        group_id=f"invoicing-test-{uuid.uuid4()}",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(dlq, p) for p in range(TOPICS[TOPIC].partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[dict[str, str]] = []
        while any([await consumer.position(tp) < end for tp, end in ends.items()]):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found += [
                    {k: v.decode() for k, v in r.headers or ()}
                    for r in records
                    if marker.encode() in r.value
                ]
        return found
    finally:
        await consumer.stop()
