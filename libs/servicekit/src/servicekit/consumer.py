"""Idempotent consumer: inbox dedup in the effects' transaction, commit after it, DLQ poison.

Flow per batch from FastStream (ack policy MANUAL):
1. apply the whole batch in one transaction (fast path);
2. if that fails, apply message by message so one poison message cannot stall the
   others: deterministic failures are retried `max_attempts` times with backoff,
   then published to `<topic>.dlq` with the error in headers; a lost database
   connection is retried without limit, because skipping a healthy message would
   lose it;
3. only then commit the offsets.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, Topic
from faststream.kafka.annotations import KafkaMessage
from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.trace import Link, SpanKind

from contracts.envelope import EventEnvelope
from contracts.registry import decode_event
from contracts.topics import dlq_topic
from servicekit.db import RETRYABLE_DB_ERRORS, TENANT_SETTING, Connection, Pool
from servicekit.metrics import ServiceMetrics

log = logging.getLogger(__name__)

EventHandler = Callable[[Connection, EventEnvelope[Any]], Awaitable[None]]

# Claims the event and scopes the transaction to its tenant in one round trip; a
# duplicate returns no row and sets nothing.
_CLAIM = f"""
INSERT INTO inbox (consumer, event_id) VALUES ($1, $2)
ON CONFLICT DO NOTHING
RETURNING set_config('{TENANT_SETTING}', $3::text, true) IS NOT NULL
"""


_DEAD_LETTERED = """
INSERT INTO inbox (consumer, event_id, outcome) VALUES ($1, $2, 'dead_lettered')
ON CONFLICT DO NOTHING
"""


@dataclass(frozen=True, slots=True)
class Subscription:
    """One topic a service consumes, and the handler applied to each new event."""

    topic: str
    handler: EventHandler


@dataclass(frozen=True, slots=True)
class ConsumerPolicy:
    max_attempts: int = 5
    backoff_s: float = 0.2
    max_backoff_s: float = 30.0
    max_records: int = 500
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    fetch_max_wait_ms: int = 20


class IdempotentConsumer:
    def __init__(
        self,
        *,
        name: str,
        subscription: Subscription,
        pool: Pool,
        producer: AIOKafkaProducer,
        metrics: ServiceMetrics,
        policy: ConsumerPolicy,
    ) -> None:
        self.name = name
        self.topic = subscription.topic
        self._handler = subscription.handler
        self._pool = pool
        self._producer = producer
        self._metrics = metrics
        self._policy = policy
        self._tracer = trace.get_tracer("servicekit.consumer")

    def register(self, broker: KafkaBroker) -> None:
        @broker.subscriber(
            # Topics are created by the bootstrap with their partitions and cleanup policy.
            Topic(self.topic, declare=False),
            group_id=self.name,
            batch=True,
            max_records=self._policy.max_records,
            batch_timeout_ms=self._policy.fetch_max_wait_ms,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            session_timeout_ms=self._policy.session_timeout_ms,
            heartbeat_interval_ms=self._policy.heartbeat_interval_ms,
            # A broker may hold a fetch this long when it has nothing new; lower means
            # fresher events at the cost of more fetch requests on an idle topic.
            fetch_max_wait_ms=self._policy.fetch_max_wait_ms,
            # FastStream's own parsing must never fail: a batch it cannot parse is skipped
            # without reaching `consume`, and a later commit would move past it unseen.
            parser=_parse_leniently,
            decoder=_raw_bodies,
        )
        async def consume(message: KafkaMessage) -> None:
            records = message.raw_message
            batch = records if isinstance(records, tuple) else (records,)
            try:
                await self.process(batch)
            except BaseException:
                # Rewind so the next poll redelivers what was not applied; a later
                # commit must never move past it.
                await message.nack()
                raise
            await message.ack()

    async def process(self, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        start = time.perf_counter()
        try:
            await self._apply_batch(records)
        except Exception as exc:
            log.warning("batch of %d failed (%r); applying one by one", len(records), exc)
            for record in records:
                await self._apply_one(record)
        finally:
            self._metrics.consume_duration.labels(self.name).observe(time.perf_counter() - start)

    async def _apply_batch(self, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        outcomes: list[str] = []
        async with self._pool.acquire() as conn, conn.transaction():
            for record in records:
                outcomes.append(await self._apply(conn, record))
        for outcome in outcomes:
            self._count(outcome)

    async def _apply_one(self, record: ConsumerRecord[Any, Any]) -> None:
        attempt = 0
        transient_delay = self._policy.backoff_s
        while True:
            attempt += 1
            try:
                async with self._pool.acquire() as conn, conn.transaction():
                    outcome = await self._apply(conn, record)
                self._count(outcome)
                return
            except RETRYABLE_DB_ERRORS as exc:
                attempt -= 1
                log.warning("database unavailable (%r); retrying in %.1fs", exc, transient_delay)
                await asyncio.sleep(transient_delay)
                transient_delay = min(transient_delay * 2, self._policy.max_backoff_s)
            except Exception as exc:
                if _is_malformed(exc) or attempt >= self._policy.max_attempts:
                    await self._dead_letter(record, exc, attempt)
                    return
                delay = min(self._policy.backoff_s * 2 ** (attempt - 1), self._policy.max_backoff_s)
                log.warning("message failed (attempt %d): %r; retry in %.2fs", attempt, exc, delay)
                await asyncio.sleep(delay)

    async def _apply(self, conn: Connection, record: ConsumerRecord[Any, Any]) -> str:
        envelope = decode_event(record.value)
        if not await conn.fetchval(_CLAIM, self.name, envelope.event_id, str(envelope.tenant_id)):
            return "duplicate"
        headers = {k: v.decode() for k, v in record.headers or ()}
        batch_span = trace.get_current_span().get_span_context()
        with self._tracer.start_as_current_span(
            f"{self.topic} process",
            context=extract(headers),
            kind=SpanKind.CONSUMER,
            links=[Link(batch_span)] if batch_span.is_valid else None,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": self.topic,
                "messaging.consumer.group.name": self.name,
                "messaging.message.id": str(envelope.event_id),
                "messaging.kafka.offset": record.offset,
            },
        ):
            await self._handler(conn, envelope)
        return "processed"

    async def _dead_letter(
        self, record: ConsumerRecord[Any, Any], exc: Exception, attempts: int
    ) -> None:
        log.error(
            "sending %s[%d]@%d to %s after %d attempt(s): %r",
            record.topic,
            record.partition,
            record.offset,
            dlq_topic(record.topic),
            attempts,
            exc,
        )
        headers = list(record.headers or ())
        headers += [
            ("dlq.original_topic", record.topic.encode()),
            ("dlq.original_partition", str(record.partition).encode()),
            ("dlq.original_offset", str(record.offset).encode()),
            ("dlq.consumer", self.name.encode()),
            ("dlq.attempts", str(attempts).encode()),
            ("dlq.error_type", type(exc).__name__.encode()),
            ("dlq.error_message", str(exc)[:2000].encode()),
        ]
        await self._producer.send_and_wait(
            dlq_topic(record.topic), value=record.value, key=record.key, headers=headers
        )
        await self._remember_dead_letter(record)
        self._count("dead_lettered")

    async def _remember_dead_letter(self, record: ConsumerRecord[Any, Any]) -> None:
        """Malformed bytes have no event id to remember; a valid but refused event has."""
        try:
            event_id = decode_event(record.value).event_id
        except Exception:
            return
        await self._pool.execute(_DEAD_LETTERED, self.name, event_id)

    def _count(self, outcome: str) -> None:
        self._metrics.consumed.labels(self.name, self.topic, outcome).inc()


async def _parse_leniently(
    records: tuple[ConsumerRecord[Any, Any], ...], original: Callable[[Any], Awaitable[Any]]
) -> Any:
    """FastStream's parser decodes header values as strict UTF-8; replace what is not."""
    return await original(tuple(_with_text_headers(r) for r in records))


def _with_text_headers(record: ConsumerRecord[Any, Any]) -> ConsumerRecord[Any, Any]:
    try:
        for _, value in record.headers or ():
            value.decode()
    except UnicodeDecodeError:
        headers = [(k, v.decode(errors="replace").encode()) for k, v in record.headers]
        return dataclasses.replace(record, headers=headers)
    return record


async def _raw_bodies(message: Any, _original: Any) -> Any:
    """No JSON decoding here: `decode_event` validates each body and dead-letters bad ones."""
    return message.body


def _is_malformed(exc: Exception) -> bool:
    """Failures no retry can fix: the bytes are not a known, valid event."""
    from pydantic import ValidationError

    from contracts.registry import UnknownEventError

    return isinstance(exc, ValidationError | UnknownEventError | json.JSONDecodeError)
