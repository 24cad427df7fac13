"""Outbox relay: claims committed outbox rows and publishes them with an idempotent producer.

Rows go to Kafka as one record batch per partition (aiokafka's `create_batch`/`send_batch`),
placed by the same murmur2 hash as Kafka's default partitioner, so a key keeps its
partition and its order.

Tracing costs per batch, not per row: one `outbox publish` span per batch, and a
`<topic> publish` span only per (topic, producer trace context) of the batch whose stored
context is sampled, so every exported trace still runs from the writer through the
publish to each consumer, and the rows of one bulk write share one span. Rows of unsampled
trace contexts keep their stored headers as they are; rows written outside any trace carry
the batch span's context, so consumers see one context per batch for them, not none.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
import time
from collections import Counter
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.trace import Link, Span, SpanKind, Tracer

from servicekit.db import Connection, Pool
from servicekit.metrics import ServiceMetrics
from servicekit.outbox import LANES, notify_channel
from servicekit.tasks import cancel_and_wait

log = logging.getLogger(__name__)

# Lanes are taken with transaction-scoped advisory locks, so a relay that dies
# releases them with its connection. Schemas share a database: the first key
# keeps each service's lanes apart.
_CLAIM_LANES = """
SELECT coalesce(array_agg(l), '{}') FROM generate_series(0, $1 - 1) AS l
WHERE pg_try_advisory_xact_lock(hashtext('outbox.' || current_schema()), l)
"""
# SKIP LOCKED rather than "id > last seen": sequence values are taken before commit,
# so rows become visible out of id order and a high-water mark would skip them.
# The batch is picked as an array, an init plan run once. As `id IN (SELECT ...)`, on
# statistics taken while the outbox looked empty (an autoanalyze while a bulk import's rows
# were not committed yet) the planner ran the locking subquery again for every outbox row:
# each claim ran until the 10 s command timeout cancelled it, and the relay published
# nothing (bench bulk-import).
# RETURNING comes in the delete's scan order, not the subquery's: sort again, or two
# events of one key can be sent swapped.
CLAIM_ROWS = """
WITH claimed AS (
    DELETE FROM outbox WHERE id = ANY(ARRAY(
        SELECT id FROM outbox WHERE lane = ANY($1::int[])
        ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED
    ))
    RETURNING id, topic, key, value, headers, created_at
)
SELECT * FROM claimed ORDER BY id
"""
# The row first in id order, through the primary key: `min(created_at)` read the whole
# table (its dead rows too) after every batch, 0.3 ms each (bench payments-api).
_OLDEST = (
    "SELECT extract(epoch FROM clock_timestamp() - created_at) FROM outbox ORDER BY id LIMIT 1"
)
# The gauge is scraped every few seconds; reading it after every batch cost a round trip each.
_OBSERVE_EVERY_S = 1.0


async def oldest_age(conn: Connection) -> float:
    """Seconds the oldest unpublished row has waited; 0 with none."""
    return float(await conn.fetchval(_OLDEST) or 0.0)


def new_producer(bootstrap_servers: str, client_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,  # implies acks="all"
        # The relay's batching window, not only the producer's: each round waits for its
        # acks, so the rows committed meanwhile go in the next claim. Sending claims closed
        # (no linger) made rounds 3x as many and smaller: bench event-latency at 1,000/s went
        # from p50 36 ms to 81-160 ms.
        linger_ms=5,
        max_batch_size=256 * 1024,
        request_timeout_ms=15_000,
    )


class OutboxRelay:
    """Publishes outbox rows in id order per lane; at-least-once, consumers dedupe."""

    def __init__(
        self,
        *,
        pool: Pool,
        dsn: str,
        schema: str,
        producer: AIOKafkaProducer,
        metrics: ServiceMetrics,
        batch_size: int,
        poll_interval_s: float,
        max_backoff_s: float = 30.0,
    ) -> None:
        self._pool = pool
        self._dsn = dsn
        self._channel = notify_channel(schema)
        self._producer = producer
        self._metrics = metrics
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._observed_at = float("-inf")
        self._max_backoff_s = max_backoff_s
        self._wakeup = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._tracer = trace.get_tracer("servicekit.relay")

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self._channel}")

    async def stop(self) -> None:
        try:
            if self._task is not None:
                await cancel_and_wait(self._task)
        finally:
            await self._close_listener()

    async def drain(self) -> int:
        """Publish until the outbox is empty; returns how many rows were published."""
        total = 0
        while (published := await self.publish_batch()) > 0:
            total += published
        return total

    async def publish_batch(self) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            lanes = await conn.fetchval(_CLAIM_LANES, LANES)
            if not lanes:
                return 0
            rows = await conn.fetch(CLAIM_ROWS, lanes, self._batch_size)
            if rows:
                await self._publish(rows)
        # Rows deleted only now: a crash before this commit re-sends them, never loses them.
        for topic, count in Counter(row["topic"] for row in rows).items():
            self._metrics.outbox_published.labels(topic).inc(count)
        return len(rows)

    async def _publish(self, rows: list[asyncpg.Record]) -> None:
        futures: list[asyncio.Future[Any]] = []
        partitions: dict[str, list[int]] = {}
        open_batches: dict[tuple[str, int], Any] = {}
        with self._tracer.start_as_current_span(
            "outbox publish",
            kind=SpanKind.PRODUCER,
            attributes={"messaging.system": "kafka", "messaging.batch.message_count": len(rows)},
        ) as batch_span:
            spans = _PublishSpans(self._tracer, batch_span)
            try:
                for row in rows:
                    topic, key, value = row["topic"], row["key"], row["value"]
                    if (known := partitions.get(topic)) is None:
                        known = partitions[topic] = sorted(
                            await self._producer.partitions_for(topic)
                        )
                    tp = (topic, partition_for(key, known))
                    headers = spans.headers(topic, json.loads(row["headers"]))
                    batch = open_batches.get(tp)
                    if batch is None:
                        batch = open_batches[tp] = self._producer.create_batch()
                    if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                        # Full: queue it (a partition's batches are sent in queue order).
                        futures.append(
                            await self._producer.send_batch(batch, tp[0], partition=tp[1])
                        )
                        batch = open_batches[tp] = self._producer.create_batch()
                        # An empty batch takes any record; a too-large one fails on send.
                        batch.append(key=key, value=value, timestamp=None, headers=headers)
                for (topic, partition), batch in open_batches.items():
                    futures.append(
                        await self._producer.send_batch(batch, topic, partition=partition)
                    )
                await asyncio.gather(*futures)
            except BaseException:
                # Collect every outcome so no delivery future is left unobserved.
                await asyncio.gather(*futures, return_exceptions=True)
                raise
            finally:
                spans.end()

    async def _run(self) -> None:
        backoff = self._poll_interval_s
        while True:
            try:
                await self._ensure_listener()
                # Cleared before claiming, so a NOTIFY for rows committed during this round
                # wakes the next one instead of being lost.
                self._wakeup.clear()
                published = await self.publish_batch()
                backoff = self._poll_interval_s
                if published >= self._batch_size:
                    continue
                await self._observe_backlog()
                # asyncio.timeout, not wait_for: on Python 3.11, wait_for returns the
                # result when a stop's cancellation and a NOTIFY arrive together, and
                # the relay looped on with its stop waiting for ever.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll_interval_s):
                        await self._wakeup.wait()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay failed; retrying in %.1fs", backoff)
                self._metrics.outbox_errors.inc()
                await self._close_listener()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff_s)

    async def _observe_backlog(self) -> None:
        now = time.monotonic()
        if now - self._observed_at < _OBSERVE_EVERY_S:
            return
        self._observed_at = now
        async with self._pool.acquire() as conn:
            self._metrics.outbox_oldest_age.set(await oldest_age(conn))

    async def _ensure_listener(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        try:
            self._listener = await asyncpg.connect(self._dsn)
            await self._listener.add_listener(self._channel, self._on_notify)
        except (OSError, asyncpg.PostgresError) as exc:
            # Polling still works without the listener; try again next round.
            log.warning("outbox LISTEN unavailable: %r", exc)
            self._listener = None

    def _on_notify(self, *_: Any) -> None:
        self._wakeup.set()

    async def _close_listener(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close(timeout=2)
            self._listener = None


_TRACE_HEADERS = ("traceparent", "tracestate")


class _PublishSpans:
    """Kafka headers per row, and a publish span per (topic, sampled producer context)."""

    def __init__(self, tracer: Tracer, batch_span: Span) -> None:
        self._tracer = tracer
        batch = batch_span.get_span_context()
        self._links = [Link(batch)] if batch.is_valid else None
        carrier: dict[str, str] = {}
        inject(carrier, context=trace.set_span_in_context(batch_span))
        self._batch_headers = [(k, v.encode()) for k, v in carrier.items()]
        # (topic, stored traceparent) -> the group's span, its trace headers, its size
        self._groups: dict[tuple[str, str], tuple[Span, list[tuple[str, bytes]], list[str]]] = {}

    def headers(self, topic: str, stored: dict[str, str]) -> list[tuple[str, bytes]]:
        """The stored headers, the trace context replaced by the publish span's if sampled;
        a row written outside any trace joins the batch span's."""
        parent = stored.get("traceparent")
        if parent is None:
            return [(k, v.encode()) for k, v in stored.items()] + self._batch_headers
        if not _sampled(parent):
            return [(k, v.encode()) for k, v in stored.items()]
        group = self._groups.get((topic, parent))
        if group is None:
            span = self._tracer.start_span(
                f"{topic} publish",
                context=extract(stored),
                kind=SpanKind.PRODUCER,
                links=self._links,
                attributes={"messaging.system": "kafka", "messaging.destination.name": topic},
            )
            carrier: dict[str, str] = {}
            inject(carrier, context=trace.set_span_in_context(span))
            injected = [(k, v.encode()) for k, v in carrier.items() if k in _TRACE_HEADERS]
            group = self._groups[(topic, parent)] = (span, injected, [])
        span, injected, event_ids = group
        event_ids.append(stored.get("event_id", ""))
        return [(k, v.encode()) for k, v in stored.items() if k not in _TRACE_HEADERS] + injected

    def end(self) -> None:
        for span, _, event_ids in self._groups.values():
            if len(event_ids) == 1:
                span.set_attribute("messaging.message.id", event_ids[0])
            else:
                span.set_attribute("messaging.batch.message_count", len(event_ids))
            span.end()


def _sampled(traceparent: str) -> bool:
    """The sampled flag of a W3C traceparent (version-trace_id-parent_id-flags)."""
    try:
        return bool(int(traceparent.split("-")[3][:2], 16) & 1)
    except (IndexError, ValueError):
        return False


_M = 0x5BD1E995
_MASK = 0xFFFFFFFF
_WORDS: dict[int, struct.Struct] = {}


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (Java client's `Utils.murmur2`), as aiokafka's default partitioner
    computes it, about twice as fast: the 4-byte words are unpacked at once."""
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK
    n = length >> 2
    words = _WORDS.get(n)
    if words is None:
        words = _WORDS[n] = struct.Struct(f"<{n}I")
    for word in words.unpack_from(data):
        k = (word * _M) & _MASK
        k ^= k >> 24
        h = ((h * _M) & _MASK) ^ ((k * _M) & _MASK)
    extra = length & 3
    if extra:
        tail = length - extra
        if extra == 3:
            h ^= data[tail + 2] << 16
        if extra >= 2:
            h ^= data[tail + 1] << 8
        h ^= data[tail]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


def partition_for(key: bytes, partitions: list[int]) -> int:
    """The partition Kafka's default partitioner picks for a key (partitions sorted)."""
    return partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]
