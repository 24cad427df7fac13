"""The consumer's set-based fast path, driven batch by batch with invoicing's ledger as subject.

Batches are handed to `IdempotentConsumer.process` directly, so each test decides exactly
which records arrive together; every test uses its own consumer name (inbox namespace),
tenants and entries.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiokafka import ConsumerRecord
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from contracts.envelope import EventEnvelope
from contracts.events.time_entries import TimeEntryState
from contracts.registry import build_event, encode_event, event_key
from contracts.topics import dlq_topic
from invoicing.messaging.consumers import on_time_entries_logged, on_time_entry_logged
from servicekit import db
from servicekit.consumer import ConsumerPolicy, EventRefused, IdempotentConsumer, Subscription
from servicekit.metrics import ServiceMetrics
from servicekit.testing import Infra

pytestmark = pytest.mark.integration

TOPIC = "time-entry-logged"
START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
MAX_ATTEMPTS = 3


class Refused(Exception):
    """A failure the consumer cannot tell from a passing one: retried."""


class RefusedForGood(EventRefused):
    """A handler's refusal that no retry changes."""


@dataclass
class SentToDlq:
    topic: str
    value: bytes
    key: bytes | None
    headers: dict[str, str]


@dataclass
class RecordingProducer:
    """Stands in for the DLQ producer; the real broker path is covered elsewhere."""

    sent: list[SentToDlq] = field(default_factory=list)

    async def send_and_wait(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        self.sent.append(SentToDlq(topic, value, key, {k: v.decode() for k, v in headers}))


@dataclass
class Harness:
    consumer: IdempotentConsumer
    metrics: ServiceMetrics
    dlq: RecordingProducer
    infra: Infra
    # (tenant the transaction was scoped to, events) per batch handler call.
    batch_calls: list[tuple[uuid.UUID | None, list[EventEnvelope[Any]]]]
    single_calls: list[EventEnvelope[Any]]
    refused: set[uuid.UUID]
    refused_for_good: set[uuid.UUID]
    offsets: itertools.count[int] = field(default_factory=itertools.count)

    def record(
        self, value: bytes, *, key: bytes = b"k", headers: Sequence[tuple[str, bytes]] = ()
    ) -> ConsumerRecord[bytes, bytes]:
        return ConsumerRecord(
            topic=TOPIC,
            partition=0,
            offset=next(self.offsets),
            timestamp=0,
            timestamp_type=0,
            key=key,
            value=value,
            checksum=None,
            serialized_key_size=len(key),
            serialized_value_size=len(value),
            headers=list(headers),
        )

    def records(self, *events: EventEnvelope[Any]) -> list[ConsumerRecord[bytes, bytes]]:
        return [self.record(encode_event(e), key=event_key(e)) for e in events]

    async def process(self, *records: ConsumerRecord[bytes, bytes]) -> None:
        await self.consumer.process(records)

    def count(self, outcome: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "consumer_messages_total",
            {"consumer": self.consumer.name, "topic": TOPIC, "outcome": outcome},
        )
        return value or 0.0

    async def ledger(self, tenant_id: uuid.UUID) -> list[asyncpg.Record]:
        return await self.infra.fetch_as_tenant(
            "invoicing", tenant_id, "SELECT * FROM ledger_entries ORDER BY entry_id"
        )

    async def inbox(self, *event_ids: uuid.UUID) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.infra.dsn("invoicing"))
        try:
            return await conn.fetch(
                "SELECT event_id, outcome FROM inbox WHERE consumer = $1 AND event_id = ANY($2)",
                self.consumer.name,
                list(event_ids),
            )
        finally:
            await conn.close()


@pytest.fixture
def harness(infra: Infra, inv_pool: db.Pool) -> Harness:
    refused: set[uuid.UUID] = set()
    refused_for_good: set[uuid.UUID] = set()
    batch_calls: list[tuple[uuid.UUID | None, list[EventEnvelope[Any]]]] = []
    single_calls: list[EventEnvelope[Any]] = []

    async def handler(conn: db.Connection, event: EventEnvelope[Any]) -> None:
        single_calls.append(event)
        if event.payload.entry_id in refused:
            raise Refused(f"entry {event.payload.entry_id} refused")
        if event.payload.entry_id in refused_for_good:
            raise RefusedForGood(f"entry {event.payload.entry_id} refused for good")
        await on_time_entry_logged(conn, event)

    async def batch_handler(conn: db.Connection, events: Sequence[EventEnvelope[Any]]) -> None:
        batch_calls.append((await conn.fetchval("SELECT current_tenant()"), list(events)))
        if refused.intersection(e.payload.entry_id for e in events):
            raise Refused("a refused entry in the batch")
        if refused_for_good.intersection(e.payload.entry_id for e in events):
            raise RefusedForGood("an entry refused for good in the batch")
        await on_time_entries_logged(conn, events)

    metrics = ServiceMetrics("invoicing")
    dlq = RecordingProducer()
    consumer = IdempotentConsumer(
        name=f"invoicing.batch-test-{uuid.uuid4()}",
        subscription=Subscription(TOPIC, handler, batch_handler=batch_handler),
        pool=inv_pool,
        producer=dlq,  # type: ignore[arg-type]
        metrics=metrics,
        policy=ConsumerPolicy(max_attempts=MAX_ATTEMPTS, backoff_s=0.01),
    )
    return Harness(
        consumer, metrics, dlq, infra, batch_calls, single_calls, refused, refused_for_good
    )


def entry_event(
    tenant_id: uuid.UUID,
    entry_id: uuid.UUID,
    version: int,
    *,
    event_type: str | None = None,
    minutes: int = 30,
    tags: Sequence[str] = ("backend", "api"),
) -> EventEnvelope[Any]:
    state = TimeEntryState(
        entry_id=entry_id,
        version=version,
        member_id=uuid.UUID(int=7),
        project_id=uuid.UUID(int=9),
        task=None,
        description=f"v{version}",
        started_at=START,
        ended_at=START + timedelta(minutes=minutes),
        duration_seconds=minutes * 60,
        billable=True,
        tags=list(tags),
    )
    return build_event(
        event_type or ("time_entry.logged" if version == 1 else "time_entry.revised"),
        state,
        tenant_id=tenant_id,
        producer="timecapture",
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
    )


def ids(events: Sequence[EventEnvelope[Any]]) -> list[uuid.UUID]:
    return [e.event_id for e in events]


async def test_batch_with_duplicates_and_redeliveries_applies_each_event_once(
    harness: Harness, tenant_id: uuid.UUID
) -> None:
    first, second, third = (entry_event(tenant_id, uuid.uuid4(), 1) for _ in range(3))

    await harness.process(*harness.records(first, first, second, first))

    assert [(tenant, ids(events)) for tenant, events in harness.batch_calls] == [
        (tenant_id, ids([first, second]))
    ]
    rows = await harness.ledger(tenant_id)
    assert sorted(r["source_event_id"] for r in rows) == sorted(ids([first, second]))
    assert (harness.count("processed"), harness.count("duplicate")) == (2, 2)

    # Redelivered with a new event: only the new one reaches the handler.
    await harness.process(*harness.records(second, third, first))

    assert ids(harness.batch_calls[-1][1]) == [third.event_id]
    assert [
        r for r in await harness.ledger(tenant_id) if r["entry_id"] != third.payload.entry_id
    ] == rows
    assert len(await harness.ledger(tenant_id)) == 3
    assert (harness.count("processed"), harness.count("duplicate")) == (3, 4)
    assert sorted(r["event_id"] for r in await harness.inbox(*ids([first, second, third]))) == (
        sorted(ids([first, second, third]))
    )
    assert harness.single_calls == []
    assert harness.dlq.sent == []


async def test_batch_mixing_tenants_writes_each_under_its_own_tenant(harness: Harness) -> None:
    tenant_a, tenant_b = uuid.uuid4(), uuid.uuid4()
    a1, b1, a2, b2 = (
        entry_event(tenant, uuid.uuid4(), 1) for tenant in (tenant_a, tenant_b, tenant_a, tenant_b)
    )

    await harness.process(*harness.records(a1, b1, a2, b2))

    assert [(tenant, ids(events)) for tenant, events in harness.batch_calls] == [
        (tenant_a, ids([a1, a2])),
        (tenant_b, ids([b1, b2])),
    ]
    rows_a = await harness.ledger(tenant_a)
    rows_b = await harness.ledger(tenant_b)
    assert sorted(r["source_event_id"] for r in rows_a) == sorted(ids([a1, a2]))
    assert sorted(r["source_event_id"] for r in rows_b) == sorted(ids([b1, b2]))
    assert {r["tenant_id"] for r in rows_a} == {tenant_a}
    assert {r["tenant_id"] for r in rows_b} == {tenant_b}
    assert harness.count("processed") == 4
    assert harness.single_calls == []  # not rescued by the one-by-one fallback


async def test_poison_records_in_a_batch_go_to_the_dlq_and_the_rest_apply_once(
    harness: Harness, tenant_id: uuid.UUID
) -> None:
    good1, refused, good2 = (entry_event(tenant_id, uuid.uuid4(), 1) for _ in range(3))
    harness.refused.add(refused.payload.entry_id)
    malformed = harness.record(b'{"event_id": "not json', key=b"bad")
    batch = [
        *harness.records(good1),
        malformed,
        *harness.records(refused, good2, good1),
    ]

    await harness.process(*batch)

    rows = await harness.ledger(tenant_id)
    assert sorted(r["source_event_id"] for r in rows) == sorted(ids([good1, good2]))
    dead = {d.headers["dlq.original_offset"]: d for d in harness.dlq.sent}
    assert sorted(dead) == sorted([str(malformed.offset), str(batch[2].offset)])
    assert {d.topic for d in dead.values()} == {dlq_topic(TOPIC)}
    assert dead[str(malformed.offset)].value == malformed.value
    assert dead[str(malformed.offset)].headers["dlq.error_type"] == "ValidationError"
    assert dead[str(malformed.offset)].headers["dlq.attempts"] == "1"
    assert dead[str(batch[2].offset)].headers["dlq.error_type"] == "Refused"
    assert dead[str(batch[2].offset)].headers["dlq.attempts"] == str(MAX_ATTEMPTS)
    assert harness.count("processed") == 2
    assert harness.count("dead_lettered") == 2
    assert harness.count("duplicate") == 1
    assert [r["outcome"] for r in await harness.inbox(refused.event_id)] == ["dead_lettered"]

    # Redelivered: everything is known, nothing is applied or dead-lettered again, and the
    # remembered dead letter no longer pushes the batch off the fast path.
    single_calls = len(harness.single_calls)
    await harness.process(*harness.records(good1, refused, good2))

    assert len(harness.dlq.sent) == 2
    assert len(harness.single_calls) == single_calls
    assert await harness.ledger(tenant_id) == rows
    assert harness.count("duplicate") == 4


async def test_an_event_refused_for_good_is_dead_lettered_at_its_first_attempt(
    harness: Harness, tenant_id: uuid.UUID
) -> None:
    good, retried, final = (entry_event(tenant_id, uuid.uuid4(), 1) for _ in range(3))
    harness.refused.add(retried.payload.entry_id)
    harness.refused_for_good.add(final.payload.entry_id)

    await harness.process(*harness.records(good, retried, final))

    calls = [e.event_id for e in harness.single_calls]
    assert calls.count(good.event_id) == 1
    assert calls.count(retried.event_id) == MAX_ATTEMPTS
    assert calls.count(final.event_id) == 1
    dead = {d.headers["dlq.original_offset"]: d.headers for d in harness.dlq.sent}
    assert len(dead) == 2
    by_type = {h["dlq.error_type"]: h["dlq.attempts"] for h in dead.values()}
    assert by_type == {"Refused": str(MAX_ATTEMPTS), "RefusedForGood": "1"}
    assert [r["source_event_id"] for r in await harness.ledger(tenant_id)] == [good.event_id]
    assert [r["outcome"] for r in await harness.inbox(final.event_id)] == ["dead_lettered"]


async def test_malformed_record_does_not_push_its_batch_off_the_fast_path(
    harness: Harness, tenant_id: uuid.UUID
) -> None:
    good = entry_event(tenant_id, uuid.uuid4(), 1)
    unknown = json.loads(encode_event(entry_event(tenant_id, uuid.uuid4(), 1)))
    unknown["schema_version"] = 99
    malformed = harness.record(json.dumps(unknown).encode())

    await harness.process(malformed, *harness.records(good))

    assert [ids(events) for _, events in harness.batch_calls] == [[good.event_id]]
    assert harness.single_calls == []
    [dead] = harness.dlq.sent
    assert dead.headers["dlq.error_type"] == "UnknownEventError"
    assert dead.headers["dlq.attempts"] == "1"
    assert [r["source_event_id"] for r in await harness.ledger(tenant_id)] == [good.event_id]
    assert await harness.inbox(uuid.UUID(unknown["event_id"])) == []


async def test_out_of_order_versions_in_one_batch_keep_the_highest(
    harness: Harness, tenant_id: uuid.UUID
) -> None:
    entry = uuid.uuid4()
    v2 = entry_event(tenant_id, entry, 2, minutes=20)
    v3 = entry_event(tenant_id, entry, 3, minutes=30, tags=("z", "a", "m"))
    v1 = entry_event(tenant_id, entry, 1, minutes=10)
    v3_again = entry_event(tenant_id, entry, 3, minutes=99)  # same version, later: no effect

    await harness.process(*harness.records(v2, v3, v1, v3_again))

    [row] = await harness.ledger(tenant_id)
    assert (row["version"], row["source_event_id"]) == (3, v3.event_id)
    assert row["duration_seconds"] == 30 * 60
    assert row["tags"] == ["z", "a", "m"]
    assert row["deleted"] is False
    assert harness.count("processed") == 4
    assert harness.single_calls == []  # one set-based statement, not the fallback

    # A later batch: stale versions around a deletion; only the deletion counts.
    deleted = entry_event(tenant_id, entry, 4, event_type="time_entry.deleted")
    stale = entry_event(tenant_id, entry, 2, minutes=45)
    await harness.process(*harness.records(stale, deleted, v1))

    [row] = await harness.ledger(tenant_id)
    assert (row["version"], row["source_event_id"], row["deleted"]) == (4, deleted.event_id, True)

    # Only stale versions: the row does not change at all.
    await harness.process(*harness.records(entry_event(tenant_id, entry, 3)))
    assert await harness.ledger(tenant_id) == [row]
    assert harness.single_calls == []


async def test_only_sampled_producer_traces_get_process_spans_one_per_trace(
    harness: Harness, tenant_id: uuid.UUID, span_exporter: InMemorySpanExporter
) -> None:
    sampled, bulk1, bulk2, unsampled, untraced1, untraced2 = (
        entry_event(tenant_id, uuid.uuid4(), 1) for _ in range(6)
    )
    sampled_trace, bulk_trace = uuid.uuid4().hex, uuid.uuid4().hex

    def traceparent(trace_id: str, flags: str) -> list[tuple[str, bytes]]:
        return [("traceparent", f"00-{trace_id}-00f067aa0ba902b7-{flags}".encode())]

    records = [
        harness.record(encode_event(sampled), headers=traceparent(sampled_trace, "01")),
        # Two events of one bulk write: one producer context, one process span.
        harness.record(encode_event(bulk1), headers=traceparent(bulk_trace, "01")),
        harness.record(encode_event(bulk2), headers=traceparent(bulk_trace, "01")),
        harness.record(encode_event(unsampled), headers=traceparent(uuid.uuid4().hex, "00")),
        # No trace context at all: one root span for them, the consumer's sampler decides
        # (always on in tests).
        harness.record(encode_event(untraced1)),
        harness.record(encode_event(untraced2)),
    ]

    await harness.process(*records)

    spans = [
        s
        for s in span_exporter.get_finished_spans()
        if s.name == f"{TOPIC} process"
        and (s.attributes or {}).get("messaging.consumer.group.name") == harness.consumer.name
    ]
    by_trace = {format(s.context.trace_id, "032x"): s for s in spans if s.context is not None}
    assert len(spans) == 3
    assert sampled_trace in by_trace
    assert bulk_trace in by_trace
    single = by_trace[sampled_trace].attributes or {}
    assert single["messaging.message.id"] == str(sampled.event_id)
    bulk = by_trace[bulk_trace].attributes or {}
    assert bulk["messaging.batch.message_count"] == 2
    assert "messaging.message.id" not in bulk
    parent = by_trace[sampled_trace].parent
    assert parent is not None
    assert format(parent.span_id, "016x") == "00f067aa0ba902b7"
    [root] = [s for s in spans if s.parent is None]
    assert (root.attributes or {})["messaging.batch.message_count"] == 2
    assert len(await harness.ledger(tenant_id)) == 6
