"""Real Postgres and broker for the kit's own tests, with timecapture and invoicing as subjects."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import RecordMetadata

from contracts.envelope import EventEnvelope
from contracts.topics import TOPICS
from invoicing.app import MIGRATIONS as INVOICING_MIGRATIONS
from invoicing.app import define as define_invoicing
from invoicing.messaging.consumers import on_time_entry_logged
from invoicing.settings import InvoicingSettings
from servicekit import db, migrations
from servicekit.consumer import Subscription
from servicekit.metrics import ServiceMetrics
from servicekit.relay import OutboxRelay, new_producer
from servicekit.service import Runtime, ServiceDefinition, create_app
from servicekit.testing import Infra, eventually, serve
from timecapture.app import MIGRATIONS as TIMECAPTURE_MIGRATIONS
from timecapture.domain.time_entries import TimeEntry
from timecapture.messaging.outgoing import time_entry_event

TOPIC = "time-entry-logged"
PARTITIONS = TOPICS[TOPIC].partitions
INVOICING_GROUP = f"invoicing.{TOPIC}"
READ_TIMEOUT_S = 20.0


class Make:
    """Domain objects and events for one test, each with fresh ids."""

    @staticmethod
    def entry(
        tenant_id: uuid.UUID, *, entry_id: uuid.UUID | None = None, version: int = 1
    ) -> TimeEntry:
        now = datetime.now(UTC).replace(microsecond=0)
        start = now - timedelta(hours=2)
        return TimeEntry(
            id=entry_id or uuid.uuid4(),
            tenant_id=tenant_id,
            member_id=uuid.uuid4(),
            project_id=uuid.uuid4(),
            started_at=start,
            ended_at=start + timedelta(minutes=45),
            billable=True,
            task=None,
            description="kit test",
            tags=(),
            version=version,
            created_at=now,
            updated_at=now,
        )

    @staticmethod
    def event(entry: TimeEntry) -> EventEnvelope[Any]:
        event_type = "time_entry.logged" if entry.version == 1 else "time_entry.revised"
        return time_entry_event(
            event_type, entry, event_id=uuid.uuid4(), occurred_at=datetime.now(UTC)
        )


@pytest.fixture(scope="session")
def make() -> type[Make]:
    return Make


@dataclass
class Kafka:
    """Reads topics from the start and produces raw bytes, as an outside client would."""

    bootstrap_servers: str
    producer: AIOKafkaProducer

    @staticmethod
    def header(record: ConsumerRecord[Any, Any], name: str) -> str | None:
        for key, value in record.headers or ():
            if key == name:
                return bytes(value).decode()
        return None

    def _consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers, group_id=None, enable_auto_commit=False
        )

    async def records(self, topic: str) -> list[ConsumerRecord[Any, Any]]:
        """Every record of `topic` up to its current end, by partition then offset."""
        consumer = self._consumer()
        await consumer.start()
        try:
            tps = [
                TopicPartition(topic, p)
                for p in range(TOPICS[topic.removesuffix(".dlq")].partitions)
            ]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            found: list[ConsumerRecord[Any, Any]] = []
            deadline = asyncio.get_running_loop().time() + READ_TIMEOUT_S
            while True:
                positions = {tp: await consumer.position(tp) for tp in tps}
                if all(positions[tp] >= ends[tp] for tp in tps):
                    break
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"{topic} not read to {ends} in {READ_TIMEOUT_S}s")
                batches = await consumer.getmany(timeout_ms=200)
                for batch in batches.values():
                    found.extend(batch)
            return sorted(
                (r for r in found if r.offset < ends[TopicPartition(r.topic, r.partition)]),
                key=lambda r: (r.partition, r.offset),
            )
        finally:
            await consumer.stop()

    async def published(self, event_ids: Iterable[uuid.UUID]) -> list[ConsumerRecord[Any, Any]]:
        """Records of `time-entry-logged` the relay published for these events."""
        wanted = {str(e) for e in event_ids}
        return [r for r in await self.records(TOPIC) if self.header(r, "event_id") in wanted]

    async def produce(
        self, value: bytes, *, key: bytes, headers: list[tuple[str, bytes]] | None = None
    ) -> RecordMetadata:
        return await self.producer.send_and_wait(TOPIC, value=value, key=key, headers=headers)

    async def committed(self, group: str) -> dict[int, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers)
        await admin.start()
        try:
            # The mock broker answers only for partitions named explicitly.
            offsets = await admin.list_consumer_group_offsets(
                group, partitions=[TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
            )
        finally:
            await admin.close()
        return {tp.partition: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}

    async def end_offsets(self) -> dict[int, int]:
        consumer = self._consumer()
        await consumer.start()
        try:
            tps = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
            ends = await consumer.end_offsets(tps)
        finally:
            await consumer.stop()
        return {tp.partition: offset for tp, offset in ends.items()}

    async def consumed_past(self, group: str, metadata: RecordMetadata) -> None:
        """Wait until `group` committed past this record: applied, counted and acknowledged."""

        async def past() -> bool:
            return (await self.committed(group)).get(metadata.partition, -1) > metadata.offset

        await eventually(past, timeout=20, interval=0.1, message=f"{group} past {metadata}")

    async def caught_up(self, group: str) -> None:
        """Wait until `group` committed everything on the topic, so counters start quiet."""
        ends = await self.end_offsets()

        async def done() -> bool:
            committed = await self.committed(group)
            return all(committed.get(p, 0) >= end for p, end in ends.items())

        await eventually(done, timeout=30, interval=0.1, message=f"{group} caught up to {ends}")


@pytest.fixture(scope="session")
async def kafka(infra: Infra) -> AsyncIterator[Kafka]:
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka.bootstrap_servers)
    await producer.start()
    try:
        yield Kafka(infra.kafka.bootstrap_servers, producer)
    finally:
        await producer.stop()


@pytest.fixture(scope="session")
async def migrated(infra: Infra) -> None:
    """Timecapture's and invoicing's schemas as their services would migrate them."""
    for service, directory in (
        ("timecapture", TIMECAPTURE_MIGRATIONS),
        ("invoicing", INVOICING_MIGRATIONS),
    ):
        conn = await asyncpg.connect(infra.dsn(service))
        try:
            found = migrations.load_migrations(migrations.migration_sources(directory))
            await migrations.apply(conn, found)
        finally:
            await conn.close()


@contextlib.asynccontextmanager
async def service_pool(infra: Infra, service: str, *, max_size: int) -> AsyncIterator[db.Pool]:
    pool = await db.create_pool(
        infra.dsn(service),
        schema=service,
        application_name="servicekit-tests",
        min_size=1,
        max_size=max_size,
        command_timeout_s=10,
    )
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def tc_pool(infra: Infra, migrated: None) -> AsyncIterator[db.Pool]:
    async with service_pool(infra, "timecapture", max_size=6) as pool:
        yield pool


@pytest.fixture
async def inv_pool(infra: Infra, migrated: None) -> AsyncIterator[db.Pool]:
    async with service_pool(infra, "invoicing", max_size=2) as pool:
        yield pool


@dataclass
class RelayFactory:
    infra: Infra
    pool: db.Pool
    producers: list[AIOKafkaProducer] = field(default_factory=list)

    async def __call__(
        self, *, batch_size: int = 500, poll_interval_s: float = 0.05
    ) -> OutboxRelay:
        producer = new_producer(self.infra.kafka.bootstrap_servers, "servicekit-tests")
        await producer.start()
        self.producers.append(producer)
        return OutboxRelay(
            pool=self.pool,
            dsn=self.infra.dsn("timecapture"),
            schema="timecapture",
            producer=producer,
            metrics=ServiceMetrics("timecapture"),
            batch_size=batch_size,
            poll_interval_s=poll_interval_s,
        )


@pytest.fixture
async def new_relay(infra: Infra, tc_pool: db.Pool) -> AsyncIterator[RelayFactory]:
    """Relays over timecapture's outbox, driven by the test (not started)."""
    factory = RelayFactory(infra, tc_pool)
    try:
        yield factory
    finally:
        for producer in factory.producers:
            await producer.stop()


class LedgerRejected(Exception):
    """A business rule refused the event: retrying cannot help."""


@dataclass
class Invoicing:
    runtime: Runtime
    # Entries whose events the ledger refuses, to make business-invalid messages.
    rejected: set[uuid.UUID]
    infra: Infra

    def count(self, outcome: str) -> float:
        value = self.runtime.metrics.registry.get_sample_value(
            "consumer_messages_total",
            {"consumer": INVOICING_GROUP, "topic": TOPIC, "outcome": outcome},
        )
        return value or 0.0

    async def _scoped(self, tenant_id: uuid.UUID, query: str, *args: Any) -> list[asyncpg.Record]:
        return await self.infra.fetch_as_tenant("invoicing", tenant_id, query, *args)

    async def ledger(self, tenant_id: uuid.UUID) -> list[asyncpg.Record]:
        return await self._scoped(tenant_id, "SELECT * FROM ledger_entries ORDER BY entry_id")

    async def inbox(self, event_id: uuid.UUID) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.infra.dsn("invoicing"))
        try:
            return await conn.fetch("SELECT * FROM inbox WHERE event_id = $1", event_id)
        finally:
            await conn.close()


@pytest.fixture
async def invoicing(infra: Infra, migrated: None) -> AsyncIterator[Invoicing]:
    """The invoicing service running in-process, its ledger consumer in the shared group."""
    rejected: set[uuid.UUID] = set()

    async def handler(conn: db.Connection, event: EventEnvelope[Any]) -> None:
        if event.payload.entry_id in rejected:
            raise LedgerRejected(f"entry {event.payload.entry_id} refused")
        await on_time_entry_logged(conn, event)

    definition = dataclasses.replace(
        define_invoicing(infra.settings(InvoicingSettings)),
        subscriptions=[Subscription(TOPIC, handler)],
    )
    app = create_app(definition)
    async with serve(app):
        yield Invoicing(app.state.runtime, rejected, infra)


def invoicing_timing_entries(
    infra: Infra, **settings: Any
) -> tuple[ServiceDefinition, dict[uuid.UUID, float]]:
    """Invoicing with only its ledger consumer, and when (monotonic) it applied each event."""
    applied: dict[uuid.UUID, float] = {}

    async def handler(conn: db.Connection, event: EventEnvelope[Any]) -> None:
        await on_time_entry_logged(conn, event)
        applied[event.event_id] = time.monotonic()

    definition = dataclasses.replace(
        define_invoicing(infra.settings(InvoicingSettings, **settings)),
        subscriptions=[Subscription(TOPIC, handler)],
    )
    return definition, applied
