"""Bulk events from timecapture's outbox into invoicing's ledger (PERFORMANCE.md target:
>= 20,000 entries/s end to end), with raw baselines measured in the same run: asyncpg COPY,
aiokafka produce and aiokafka consume.

BENCH_EVENTS (default 200,000) valid `time_entry.logged` events are staged in timecapture's
outbox with `servicekit.outbox` inside one transaction that stays open while timecapture (its
relay) and invoicing (its consumer) start as their own processes and warm up. Its commit
starts the clock; the last ledger row stops it. The events are BENCH_TENANTS (default 4)
tenants' imports, one after the other; BENCH_INTERLEAVE=1 alternates tenants event by event
instead (the worst case for the consumer, which applies a batch tenant by tenant). They are
staged in chunks of 1,000, each under its own span of a 10 %-sampled tracer, the way an
import writes them, so relay and consumer pay for tracing as in production.

On the in-memory mock broker (no KAFKA_BOOTSTRAP_SERVERS, no Docker) the events are staged
in slices of BENCH_SLICE (10,000), each in its own open transaction, and committed so that
at most BENCH_IN_FLIGHT (20,000) are between outbox and ledger: the mock keeps only the last
5 MiB of each partition, and a consumer further behind would lose records. The figure is
then the sustained rate with the pipeline kept full.

Knobs: BENCH_OUTBOX_BATCH (relay batch size) and BENCH_MAX_RECORDS (consumer batch size)
override the services' defaults.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from bench.cpu import cpu_seconds
from bench.event_latency import service_processes
from bench.schemas import migrate
from contracts.events.time_entries import TimeEntryState
from contracts.registry import build_event
from contracts.topics import TOPICS
from servicekit.clock import uuid7
from servicekit.outbox import enqueue_many
from servicekit.testing import Infra, local_infra

EVENTS = int(os.environ.get("BENCH_EVENTS", "200000"))
TENANTS = int(os.environ.get("BENCH_TENANTS", "4"))
INTERLEAVE = os.environ.get("BENCH_INTERLEAVE", "0") == "1"
PORT = int(os.environ.get("BENCH_PG_PORT", "55434"))
CHUNK = 1_000
SLICE = int(os.environ.get("BENCH_SLICE", "10000"))
IN_FLIGHT = int(os.environ.get("BENCH_IN_FLIGHT", "20000"))
WARM_UP = 2_000
CONSUMER = "invoicing.time-entry-logged"
# Exists in every stack and nothing reads it: the Kafka baselines' own topic.
BASELINE_TOPIC = "payment-received.dlq"


def _settings_from_bench_env() -> None:
    """The service processes inherit this environment."""
    if batch := os.environ.get("BENCH_OUTBOX_BATCH"):
        os.environ["TIMECAPTURE_OUTBOX_BATCH_SIZE"] = batch
    if records := os.environ.get("BENCH_MAX_RECORDS"):
        os.environ["INVOICING_CONSUMER_MAX_RECORDS"] = records


def tenant_of(i: int, total: int, tenants: list[uuid.UUID]) -> uuid.UUID:
    if INTERLEAVE:
        return tenants[i % len(tenants)]
    return tenants[i * len(tenants) // total]


def time_entry_events(
    first: int, count: int, total: int, tenants: list[uuid.UUID]
) -> Iterator[list[object]]:
    """Chunks of valid `time_entry.logged` envelopes, each entry a new one; ids are UUIDv7,
    as the services make them."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
    members = [uuid.uuid4() for _ in range(50)]
    projects = [uuid.uuid4() for _ in range(20)]
    chunk: list[object] = []
    for i in range(first, first + count):
        began = start + timedelta(minutes=i % 40_000)
        state = TimeEntryState(
            entry_id=uuid7(),
            version=1,
            member_id=members[i % len(members)],
            project_id=projects[i % len(projects)],
            task="build" if i % 3 else None,
            description=f"imported entry {i}",
            started_at=began,
            ended_at=began + timedelta(minutes=25),
            duration_seconds=25 * 60,
            billable=i % 10 != 0,
            tags=["import", f"batch-{i // CHUNK}"],
        )
        chunk.append(
            build_event(
                "time_entry.logged",
                state,
                tenant_id=tenant_of(i, total, tenants),
                producer="timecapture",
                event_id=uuid7(),
                occurred_at=datetime.now(UTC),
            )
        )
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def stage(
    conn: asyncpg.Connection, count: int, tenants: list[uuid.UUID], *, first: int, total: int
) -> int:
    """Enqueue events `first` to `first + count` of `total` on `conn` (inside its
    transaction); returns how many are under sampled traces."""
    tracer = trace.get_tracer("bench.event_throughput")
    sampled = 0
    for chunk in time_entry_events(first, count, total, tenants):
        with tracer.start_as_current_span("bench import chunk") as span:
            await enqueue_many(conn, chunk)  # type: ignore[arg-type]
            sampled += len(chunk) if span.get_span_context().trace_flags.sampled else 0
    return sampled


@dataclass
class Progress:
    applied: int
    last_applied_at: float | None
    outbox_empty: bool


async def progress(admin: asyncpg.Connection) -> Progress:
    """Ledger rows and outbox backlog, exactly; the admin role reads past row-level security.
    Counting the ledger costs Postgres ~50 ms at 200,000 rows: see `inserted`."""
    row = await admin.fetchrow(
        "SELECT count(*) AS applied, extract(epoch FROM max(updated_at)) AS last,"
        " NOT EXISTS (SELECT FROM timecapture.outbox) AS outbox_empty"
        " FROM invoicing.ledger_entries"
    )
    assert row is not None
    last = float(row["last"]) if row["last"] is not None else None
    return Progress(int(row["applied"]), last, bool(row["outbox_empty"]))


async def inserted(admin: asyncpg.Connection) -> int:
    """Ledger rows inserted so far as the statistics tell it: nearly free, up to ~1 s late."""
    count: int = await admin.fetchval(
        "SELECT n_tup_ins FROM pg_stat_user_tables"
        " WHERE schemaname = 'invoicing' AND relname = 'ledger_entries'"
    )
    return count


@dataclass
class Slice:
    """Staged events in a transaction of their own, committed when the feed wants them."""

    conn: asyncpg.Connection
    transaction: Any
    size: int


async def stage_slices(infra: Infra, tenants: list[uuid.UUID]) -> tuple[list[Slice], int]:
    """All events staged before the clock starts, in slices left uncommitted."""
    slices, sampled, staged = [], 0, 0
    while staged < EVENTS:
        size = min(SLICE, EVENTS - staged)
        conn = await asyncpg.connect(infra.dsn("timecapture"))
        transaction = conn.transaction()
        await transaction.start()
        sampled += await stage(conn, size, tenants, first=staged, total=EVENTS)
        slices.append(Slice(conn, transaction, size))
        staged += size
    return slices, sampled


async def outbox_to_ledger(infra: Infra) -> float:
    tenants = [uuid.uuid4() for _ in range(TENANTS)]
    # The in-memory mock broker keeps only the last 5 MiB of each partition: a consumer that
    # lags further loses records. There the outbox is fed slice by slice, so that at most
    # IN_FLIGHT events are committed but not yet in the ledger; a real broker gets them all.
    in_flight = IN_FLIGHT if infra.kafka.kind == "mock" else EVENTS
    admin = await asyncpg.connect(infra.admin_dsn())
    began = time.perf_counter()
    slices, sampled = await stage_slices(infra, tenants)
    print(
        f"staged {EVENTS} events of {TENANTS} tenants"
        f" ({'interleaved' if INTERLEAVE else 'one import after the other'})"
        f" in {time.perf_counter() - began:.1f}s, uncommitted; {sampled} under sampled traces"
    )
    print(
        f"broker: {infra.kafka.kind}; "
        + (
            "all committed at once"
            if in_flight >= EVENTS
            else f"committed in slices of {SLICE}, at most {in_flight} in flight"
        )
    )
    with service_processes(infra, ["timecapture", "invoicing"]):
        # Warm-up: migrations checked, connections open, the consumer group joined.
        warm = await asyncpg.connect(infra.dsn("timecapture"))
        async with warm.transaction():
            await stage(warm, WARM_UP, tenants, first=0, total=WARM_UP)
        await warm.close()
        deadline = time.monotonic() + 120
        while (await progress(admin)).applied < WARM_UP:
            if time.monotonic() > deadline:
                raise RuntimeError("warm-up events never reached the ledger")
            await asyncio.sleep(0.2)

        cpu_before = cpu_at_last_progress = cpu_seconds(infra)
        inserted_before = await inserted(admin)
        started = time.time()
        committed = applied = 0
        drained_at: float | None = None
        deadline = time.monotonic() + 120 + EVENTS / 1_000
        while True:
            while slices and committed + slices[0].size - applied <= in_flight:
                await slices[0].transaction.commit()
                await slices[0].conn.close()
                committed += slices.pop(0).size
            await asyncio.sleep(0.25)
            if (now_inserted := await inserted(admin) - inserted_before) > applied:
                applied = now_inserted
                cpu_at_last_progress = cpu_seconds(infra)
            if (
                drained_at is None
                and not slices
                and await admin.fetchval("SELECT NOT EXISTS (SELECT FROM timecapture.outbox)")
            ):
                drained_at = time.time()
            if applied >= EVENTS or time.monotonic() > deadline:
                break
        now = await progress(admin)
        applied = now.applied - WARM_UP
    outcomes = await admin.fetch(
        "SELECT outcome, count(*) FROM invoicing.inbox WHERE consumer = $1 GROUP BY 1", CONSUMER
    )
    for left in slices:
        await left.conn.close()
    await admin.close()

    assert now.last_applied_at is not None
    elapsed = now.last_applied_at - started
    rate = applied / elapsed
    print(
        f"events applied by invoicing: {applied} (missing {EVENTS - applied}); inbox: "
        + ", ".join(f"{r['outcome']} {r['count']}" for r in outcomes)
    )
    print(f"first outbox commit -> last ledger row: {elapsed:.2f}s = {rate:.0f} events/s")
    if drained_at is not None and in_flight >= EVENTS:
        print(
            f"relay emptied the outbox after {drained_at - started:.2f}s "
            f"(>= {EVENTS / (drained_at - started):.0f} events/s, polled every 0.25s)"
        )
    total = 0.0
    for name in sorted(cpu_at_last_progress):
        used = cpu_at_last_progress[name] - cpu_before.get(name, 0.0)
        total += used
        per_event = used / max(applied, 1) * 1e6
        print(f"cpu of {name}: {used:.1f}s = {used / elapsed:.2f} cores, {per_event:.0f} us/event")
    print(f"cpu of all of them: {total / elapsed:.2f} cores (this machine has {os.cpu_count()})")
    return rate


async def raw_copy_rate(infra: Infra, count: int) -> float:
    """Baseline: asyncpg COPY of outbox-sized rows (uuid + ~600-byte value) in one transaction."""
    conn = await asyncpg.connect(infra.dsn("analytics"))
    try:
        await conn.execute(
            "DROP TABLE IF EXISTS bench_copy_events;"
            " CREATE TABLE bench_copy_events (id uuid PRIMARY KEY, key bytea, body bytea)"
        )
        rows = [(uuid.uuid4(), str(uuid.uuid4()).encode(), b"x" * 600) for _ in range(count)]
        start = time.perf_counter()
        async with conn.transaction():
            await conn.copy_records_to_table("bench_copy_events", records=rows)
        return count / (time.perf_counter() - start)
    finally:
        await conn.close()


async def raw_kafka_rates(infra: Infra, count: int) -> tuple[float, float]:
    """Baselines: produce `count` keyed ~600-byte records (idempotent, acks=all, batched
    sends, all awaited), then consume them from the start without a group. The mock broker
    would drop the oldest of more than ~5 MiB a partition: it gets at most 30,000."""
    if infra.kafka.kind == "mock":
        count = min(count, 30_000)
    servers = infra.kafka.bootstrap_servers
    producer = AIOKafkaProducer(bootstrap_servers=servers, enable_idempotence=True, linger_ms=5)
    await producer.start()
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(BASELINE_TOPIC, p)
            for p in range(TOPICS[BASELINE_TOPIC.removesuffix(".dlq")].partitions)
        ]
        ends_before = await consumer.end_offsets(partitions)
        value = b"x" * 600
        start = time.perf_counter()
        futures = [
            await producer.send(BASELINE_TOPIC, value, key=str(uuid.uuid4()).encode())
            for _ in range(count)
        ]
        await asyncio.gather(*futures)
        produce_rate = count / (time.perf_counter() - start)

        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, ends_before[tp])
        seen = 0
        start = time.perf_counter()
        while seen < count:
            batch = await consumer.getmany(timeout_ms=500, max_records=5_000)
            seen += sum(len(records) for records in batch.values())
            if time.perf_counter() - start > 120:
                raise RuntimeError(f"read {seen} of {count} baseline records in 120 s")
        consume_rate = count / (time.perf_counter() - start)
        return produce_rate, consume_rate
    finally:
        await consumer.stop()
        await producer.stop()


def main() -> None:
    logging.disable(logging.WARNING)
    _settings_from_bench_env()
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider(sampler=ParentBased(TraceIdRatioBased(0.1))))
    with local_infra(PORT, "billstream_bench") as infra:

        async def run() -> None:
            await migrate(infra)
            achieved = await outbox_to_ledger(infra)
            copy_rate = await raw_copy_rate(infra, EVENTS)
            produce_rate, consume_rate = await raw_kafka_rates(infra, EVENTS)
            print(f"baseline asyncpg COPY: {copy_rate:.0f} rows/s")
            print(f"baseline aiokafka produce: {produce_rate:.0f} msgs/s")
            print(f"baseline aiokafka consume: {consume_rate:.0f} msgs/s")
            print(
                f"ratio end-to-end/raw COPY: {achieved / copy_rate:.2f}; "
                f"/raw produce: {achieved / produce_rate:.2f}; "
                f"/raw consume: {achieved / consume_rate:.2f}"
            )

        asyncio.run(run())
