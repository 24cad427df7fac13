"""The relay publishes record batches per partition with per-trace publish spans."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from contracts.topics import TOPICS
from servicekit import db
from servicekit.outbox import enqueue

pytestmark = pytest.mark.integration

TOPIC = "time-entry-logged"


@contextmanager
def unsampled_trace() -> Iterator[SpanContext]:
    """The current context of a request whose trace the sampler dropped."""
    context = SpanContext(
        trace_id=uuid.uuid4().int,
        span_id=uuid.uuid4().int >> 64,
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.DEFAULT),
    )
    with trace.use_span(NonRecordingSpan(context)):
        yield context


def traceparent_of(kafka: Any, record: Any) -> tuple[str, str, bool] | None:
    """(trace id, parent span id, sampled) of a record's traceparent header."""
    value = kafka.header(record, "traceparent")
    if value is None:
        return None
    _, trace_id, span_id, flags = value.split("-")
    return trace_id, span_id, bool(int(flags, 16) & 1)


async def test_rows_keep_their_trace_and_sampled_traces_get_one_publish_span_each(
    tc_pool: db.Pool,
    new_relay: Any,
    kafka: Any,
    make: Any,
    tenant_id: uuid.UUID,
    span_exporter: InMemorySpanExporter,
) -> None:
    tracer = trace.get_tracer("servicekit-tests")
    single, bulk1, bulk2, unsampled, untraced = (
        make.event(make.entry(tenant_id)) for _ in range(5)
    )
    async with db.tenant_transaction(tc_pool, tenant_id) as conn:
        with tracer.start_as_current_span("request") as request:
            await enqueue(conn, single)
        with tracer.start_as_current_span("import") as bulk_write:
            await enqueue(conn, bulk1, bulk2)
        with unsampled_trace() as dropped:
            await enqueue(conn, unsampled)
        await enqueue(conn, untraced)

    await (await new_relay()).drain()

    records = {
        kafka.header(r, "event_id"): r
        for r in await kafka.published(
            [e.event_id for e in (single, bulk1, bulk2, unsampled, untraced)]
        )
    }
    assert len(records) == 5
    traceparents = {event_id: traceparent_of(kafka, r) for event_id, r in records.items()}
    publish_spans = {
        format(s.context.trace_id, "032x"): s
        for s in span_exporter.get_finished_spans()
        if s.name == f"{TOPIC} publish" and s.context is not None
    }
    request_trace = format(request.get_span_context().trace_id, "032x")
    bulk_trace = format(bulk_write.get_span_context().trace_id, "032x")

    # A sampled writer: its own publish span, in its trace, whose context the record carries.
    span = publish_spans[request_trace]
    assert (span.attributes or {})["messaging.message.id"] == str(single.event_id)
    assert span.parent is not None
    assert span.parent.span_id == request.get_span_context().span_id
    assert traceparents[str(single.event_id)] == (
        request_trace,
        format(span.context.span_id, "016x") if span.context else "",
        True,
    )
    # One bulk write: one publish span for its rows of the batch, one context on both records.
    span = publish_spans[bulk_trace]
    assert (span.attributes or {})["messaging.batch.message_count"] == 2
    assert traceparents[str(bulk1.event_id)] == traceparents[str(bulk2.event_id)]
    assert traceparents[str(bulk1.event_id)] is not None
    # Unsampled: no span, the writer's context travels as it was stored.
    dropped_trace = format(dropped.trace_id, "032x")
    assert dropped_trace not in publish_spans
    assert traceparents[str(unsampled.event_id)] == (
        dropped_trace,
        format(dropped.span_id, "016x"),
        False,
    )
    # Written outside any trace: the record joins the trace of the relay's batch span.
    batch_traces = {
        format(s.context.trace_id, "032x")
        for s in span_exporter.get_finished_spans()
        if s.name == "outbox publish" and s.context is not None
    }
    untraced_parent = traceparents[str(untraced.event_id)]
    assert untraced_parent is not None
    assert untraced_parent[0] in batch_traces
    # Every other header of the row is kept.
    for event_id, record in records.items():
        assert kafka.header(record, "event_id") == event_id
        assert kafka.header(record, "event_type") == "time_entry.logged"
        assert kafka.header(record, "content-type") == "application/json"


async def test_records_land_on_the_partition_of_kafkas_default_partitioner(
    tc_pool: db.Pool, new_relay: Any, kafka: Any, make: Any, tenant_id: uuid.UUID
) -> None:
    events = [make.event(make.entry(tenant_id)) for _ in range(60)]
    async with db.tenant_transaction(tc_pool, tenant_id) as conn:
        await enqueue(conn, *events)

    await (await new_relay(batch_size=25)).drain()

    records = await kafka.published([e.event_id for e in events])
    partitions = list(range(TOPICS[TOPIC].partitions))
    assert len(records) == len(events)
    assert {r.partition for r in records} == set(partitions)
    for record in records:
        assert record.partition == DefaultPartitioner()(record.key, partitions, partitions)
