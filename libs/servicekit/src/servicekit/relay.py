"""Outbox relay: claims committed outbox rows and publishes them with an idempotent producer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.trace import SpanKind

from servicekit.db import Pool
from servicekit.metrics import ServiceMetrics
from servicekit.outbox import LANES, notify_channel

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
# RETURNING comes in the delete's scan order, not the subquery's: sort again, or two
# events of one key can be sent swapped.
_CLAIM_ROWS = """
WITH claimed AS (
    DELETE FROM outbox WHERE id IN (
        SELECT id FROM outbox WHERE lane = ANY($1::int[])
        ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED
    )
    RETURNING id, topic, key, value, headers, created_at
)
SELECT * FROM claimed ORDER BY id
"""
_OLDEST = "SELECT extract(epoch FROM clock_timestamp() - min(created_at)) FROM outbox"


def new_producer(bootstrap_servers: str, client_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,  # implies acks="all"
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
        self._max_backoff_s = max_backoff_s
        self._wakeup = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._tracer = trace.get_tracer("servicekit.relay")

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self._channel}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
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
            rows = await conn.fetch(_CLAIM_ROWS, lanes, self._batch_size)
            if rows:
                await self._publish(rows)
        # Rows deleted only now: a crash before this commit re-sends them, never loses them.
        for row in rows:
            self._metrics.outbox_published.labels(row["topic"]).inc()
        return len(rows)

    async def _publish(self, rows: list[asyncpg.Record]) -> None:
        spans = []
        futures = []
        try:
            for row in rows:
                stored: dict[str, str] = json.loads(row["headers"])
                span = self._tracer.start_span(
                    f"{row['topic']} publish",
                    context=extract(stored),
                    kind=SpanKind.PRODUCER,
                    attributes={
                        "messaging.system": "kafka",
                        "messaging.destination.name": row["topic"],
                        "messaging.message.id": stored.get("event_id", ""),
                    },
                )
                spans.append(span)
                headers = {
                    k: v for k, v in stored.items() if k not in ("traceparent", "tracestate")
                }
                inject(headers, context=trace.set_span_in_context(span))
                futures.append(
                    await self._producer.send(
                        row["topic"],
                        value=row["value"],
                        key=row["key"],
                        headers=[(k, v.encode()) for k, v in headers.items()],
                    )
                )
            await asyncio.gather(*futures)
        except BaseException:
            # Collect every outcome so no delivery future is left unobserved.
            await asyncio.gather(*futures, return_exceptions=True)
            raise
        finally:
            for span in spans:
                span.end()

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
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self._poll_interval_s)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay failed; retrying in %.1fs", backoff)
                self._metrics.outbox_errors.inc()
                await self._close_listener()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff_s)

    async def _observe_backlog(self) -> None:
        oldest = await self._pool.fetchval(_OLDEST)
        self._metrics.outbox_oldest_age.set(float(oldest or 0.0))

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
