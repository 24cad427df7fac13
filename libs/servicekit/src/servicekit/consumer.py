"""Idempotent consumer: inbox dedup in the effects' transaction, commit after it, DLQ poison.

Flow per batch from FastStream (ack policy MANUAL):
1. apply the whole batch in one transaction (fast path), set-based: the events of each
   tenant are claimed in the inbox with one statement that also scopes the transaction
   to that tenant, and only the fresh ones reach the handler (the subscription's batch
   handler in one call, else its handler one event after another); records that are not
   a valid event are dead-lettered after the commit;
2. if that fails, apply message by message so one poison message cannot stall the
   others: deterministic failures are retried `max_attempts` times with backoff,
   then published to `<topic>.dlq` with the error in headers (an `EventRefused`, which
   no retry can change, on its first attempt); a lost database
   connection is retried without limit, because skipping a healthy message would
   lose it;
3. only then commit the offsets.

Tracing: FastStream's span covers the batch. The messages of each sampled producer trace
context also get a `<topic> process` span, child of that trace and linked to the batch
span (one for all of them: a bulk write's events share it), so every exported trace runs
from the producer to each consumer; messages of unsampled traces get none (their spans
would be recorded nowhere, and cost ~20 us each).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, Protocol, cast
from uuid import UUID

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import IllegalStateError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, Topic
from faststream.kafka.subscriber.usecase import BatchSubscriber
from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from pydantic import ValidationError

from contracts.envelope import EventEnvelope, envelope_model
from contracts.registry import UnknownEventError, decode_event, spec_for
from contracts.topics import dlq_topic
from servicekit.db import RETRYABLE_DB_ERRORS, TENANT_SETTING, Connection, Pool
from servicekit.metrics import ServiceMetrics

log = logging.getLogger(__name__)

EventHandler = Callable[[Connection, EventEnvelope[Any]], Awaitable[None]]
BatchEventHandler = Callable[[Connection, Sequence[EventEnvelope[Any]]], Awaitable[None]]

# Claims the event and scopes the transaction to its tenant in one round trip; a
# duplicate returns no row and sets nothing.
_CLAIM = f"""
INSERT INTO inbox (consumer, event_id) VALUES ($1, $2)
ON CONFLICT DO NOTHING
RETURNING set_config('{TENANT_SETTING}', $3::text, true) IS NOT NULL
"""


# The same for many events of one tenant: one statement claims them all and returns the
# fresh ones. Sorted, so two transactions claiming overlapping ids take locks in one order.
_CLAIM_MANY = f"""
INSERT INTO inbox (consumer, event_id)
SELECT $1, e FROM unnest($2::uuid[]) AS e ORDER BY e
ON CONFLICT DO NOTHING
RETURNING event_id, set_config('{TENANT_SETTING}', $3::text, true)
"""

_DEAD_LETTERED = """
INSERT INTO inbox (consumer, event_id, outcome) VALUES ($1, $2, 'dead_lettered')
ON CONFLICT DO NOTHING
"""


@dataclass(frozen=True, slots=True)
class Subscription:
    """One topic a service consumes, and how a new event is applied.

    `handler` applies one event; it is what a batch falls back to, message by message.
    `batch_handler`, if given, is used instead on the fast path: it gets the fresh events
    of one tenant (in delivery order, the transaction scoped to that tenant) and must have
    the same effect as `handler` applied to each of them in that order.
    """

    topic: str
    handler: EventHandler
    batch_handler: BatchEventHandler | None = None


class EventRefused(Exception):
    """A handler's refusal of an event for good (it names an invoice this service never
    had, a void one, another currency): dead-lettered on its first attempt. Retrying only
    held up the events behind it, 3 s each under the default policy (0.2 + 0.4 + 0.8 +
    1.6 s of backoff)."""


@dataclass(frozen=True, slots=True)
class ConsumerPolicy:
    max_attempts: int = 5
    backoff_s: float = 0.2
    max_backoff_s: float = 30.0
    max_records: int = 500
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    fetch_max_wait_ms: int = 20
    # After `idle_after_ms` without records, fetches may be held this long instead (0: never;
    # decision 42). The first event after a quiet spell can wait that much more.
    idle_fetch_max_wait_ms: int = 0
    idle_after_ms: int = 1_000
    # How long one poll of the fetched records waits for more; records end it at once, so
    # it bounds only how often an idle consumer looks (decision 40).
    poll_timeout_ms: int = 200


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
        # The Kafka group it is fetched by, set by its `ConsumerGroup`; its inbox namespace is
        # `name`.
        self.group_id = name
        self.topic = subscription.topic
        self._handler = subscription.handler
        self._batch_handler = subscription.batch_handler
        self._pool = pool
        self._producer = producer
        self._metrics = metrics
        self._policy = policy
        self._tracer = trace.get_tracer("servicekit.consumer")
        self._decode = _Decoder()

    async def process(self, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        start = time.perf_counter()
        try:
            try:
                malformed = await self._apply_batch(records)
            except Exception as exc:
                log.warning("batch of %d failed (%r); applying one by one", len(records), exc)
                for record in records:
                    await self._apply_one(record)
            else:
                # After the commit: if a send fails, the batch is redelivered, its events are
                # duplicates by then, and only these records are dead-lettered again.
                for record, error in malformed:
                    await self._dead_letter(record, error, attempts=1)
        finally:
            self._metrics.consume_duration.labels(self.name).observe(time.perf_counter() - start)

    async def _apply_batch(
        self, records: Sequence[ConsumerRecord[Any, Any]]
    ) -> list[tuple[ConsumerRecord[Any, Any], Exception]]:
        """Apply every valid event of the batch in one transaction; return the malformed
        records (no retry can make them valid) for the caller to dead-letter."""
        malformed: list[tuple[ConsumerRecord[Any, Any], Exception]] = []
        by_tenant: dict[UUID, list[_Delivery]] = {}
        seen: set[UUID] = set()
        duplicates = 0
        for record in records:
            try:
                envelope = self._decode(record.value)
            except Exception as exc:
                if not _is_malformed(exc):
                    raise
                malformed.append((record, exc))
                continue
            if envelope.event_id in seen:  # delivered twice in one batch
                duplicates += 1
                continue
            seen.add(envelope.event_id)
            by_tenant.setdefault(envelope.tenant_id, []).append(_Delivery(record, envelope))
        processed = 0
        if by_tenant:
            async with self._pool.acquire() as conn, conn.transaction():
                for tenant_id, deliveries in by_tenant.items():
                    fresh = await self._claim(conn, tenant_id, deliveries)
                    duplicates += len(deliveries) - len(fresh)
                    if fresh:
                        await self._handle(conn, fresh)
                        processed += len(fresh)
        self._count("processed", processed)
        self._count("duplicate", duplicates)
        return malformed

    async def _claim(
        self, conn: Connection, tenant_id: UUID, deliveries: list[_Delivery]
    ) -> list[_Delivery]:
        """Claim one tenant's events in the inbox; the fresh ones, the transaction scoped to
        the tenant if there are any."""
        ids = [d.envelope.event_id for d in deliveries]
        rows = await conn.fetch(_CLAIM_MANY, self.name, ids, str(tenant_id))
        if len(rows) == len(deliveries):
            return deliveries
        claimed = {row["event_id"] for row in rows}
        return [d for d in deliveries if d.envelope.event_id in claimed]

    async def _handle(self, conn: Connection, fresh: list[_Delivery]) -> None:
        spans = _ProcessSpans(self, trace.get_current_span())
        per_delivery = [spans.span_for(d) for d in fresh]
        try:
            if self._batch_handler is not None:
                await self._batch_handler(conn, [d.envelope for d in fresh])
            else:
                for delivery, span in zip(fresh, per_delivery, strict=True):
                    if span is None:
                        await self._handler(conn, delivery.envelope)
                    else:
                        with trace.use_span(
                            span, record_exception=False, set_status_on_exception=False
                        ):
                            await self._handler(conn, delivery.envelope)
        except BaseException as exc:
            spans.fail(exc)
            raise
        finally:
            spans.end()

    def _start_message_span(
        self,
        record: ConsumerRecord[Any, Any],
        envelope: EventEnvelope[Any] | None,
        batch: trace.SpanContext,
    ) -> Span:
        """A `<topic> process` span, child of the record's producer trace, linked to the
        batch's span; `envelope` None: it stands for several records of that trace."""
        headers = {k: v.decode() for k, v in record.headers or ()}
        attributes: dict[str, str | int] = {
            "messaging.system": "kafka",
            "messaging.destination.name": self.topic,
            "messaging.consumer.group.name": self.group_id,
        }
        if envelope is not None:
            attributes["messaging.message.id"] = str(envelope.event_id)
            attributes["messaging.kafka.offset"] = record.offset
        return self._tracer.start_span(
            f"{self.topic} process",
            context=extract(headers),
            kind=SpanKind.CONSUMER,
            links=[Link(batch)] if batch.is_valid else None,
            attributes=attributes,
        )

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
                if _no_retry_helps(exc) or attempt >= self._policy.max_attempts:
                    await self._dead_letter(record, exc, attempt)
                    return
                delay = min(self._policy.backoff_s * 2 ** (attempt - 1), self._policy.max_backoff_s)
                log.warning("message failed (attempt %d): %r; retry in %.2fs", attempt, exc, delay)
                await asyncio.sleep(delay)

    async def _apply(self, conn: Connection, record: ConsumerRecord[Any, Any]) -> str:
        envelope = decode_event(record.value)
        if not await conn.fetchval(_CLAIM, self.name, envelope.event_id, str(envelope.tenant_id)):
            return "duplicate"
        batch = trace.get_current_span().get_span_context()
        with trace.use_span(self._start_message_span(record, envelope, batch), end_on_exit=True):
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

    def _count(self, outcome: str, n: int = 1) -> None:
        if n:
            self._metrics.consumed.labels(self.name, self.topic, outcome).inc(n)


class Positions(Protocol):
    """The part of aiokafka's consumer a group moves: its fetch positions and commits."""

    def seek(self, partition: TopicPartition, offset: int) -> None: ...

    async def commit(self, offsets: dict[TopicPartition, int]) -> None: ...


def _poll_without_sleeping(subscriber: Any, policy: ConsumerPolicy) -> None:
    """FastStream's batch poll sleeps as long as it waited whenever no records came, and an
    event fetched during that sleep waited for it: up to 10 ms of every hop at the 10 ms poll
    this replaced, and 100 wake-ups a second per idle consumer. aiokafka's `getmany` returns
    as soon as records are fetched, so the poll waits there instead and never sleeps. What
    proves FastStream still polls through `get_msg` is test_servicekit_consumer_poll.py."""
    if not isinstance(subscriber, BatchSubscriber):
        raise TypeError(f"expected FastStream's BatchSubscriber, got {type(subscriber)}")

    pace: FetchPace | None = None

    async def get_msg(consumer: Any) -> tuple[ConsumerRecord[Any, Any], ...]:
        nonlocal pace
        fetched = await consumer.getmany(
            timeout_ms=policy.poll_timeout_ms, max_records=policy.max_records
        )
        records = tuple(chain.from_iterable(fetched.values()))
        # FastStream builds a new AIOKafkaConsumer each time the subscriber starts.
        if pace is None or pace.consumer is not consumer:
            pace = FetchPace(consumer, policy)
        pace.polled(found=bool(records))
        return records

    subscriber.get_msg = get_msg  # type: ignore[method-assign]  # per instance, on purpose


class FetchPace:
    """Short fetch waits while records come, long ones when they stopped coming.

    A fetch the broker cannot fill is held for the consumer's `fetch_max_wait_ms`, then
    answered empty. Kafka answers as soon as records arrive, so there a long wait costs
    nothing; the local test broker holds every fetch for its whole wait, so there the wait
    is a floor under every hop, and it must stay short (20 ms) for the latency targets. But
    20 ms means 50 fetches a second per idle consumer, each encoded and decoded in Python:
    18.7 % of a core for the platform at rest (`bench idle-cpu`). After `idle_after_ms`
    without records the wait becomes `idle_fetch_max_wait_ms`, and the first records bring
    it back (the fetch in flight still runs its course: the first event after a quiet spell
    can wait that long).

    The wait is aiokafka's `Fetcher._fetch_max_wait_ms`, read for every fetch it builds;
    test_servicekit_consumer_pace.py fails if the fetch requests stop carrying it. Should a
    new aiokafka lack it, the pace is off (logged) and the consumer fetches as configured."""

    def __init__(
        self, consumer: Any, policy: ConsumerPolicy, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.consumer = consumer
        self._fetcher: Any = getattr(consumer, "_fetcher", None)
        self._busy_ms = policy.fetch_max_wait_ms
        self._idle_ms = policy.idle_fetch_max_wait_ms
        if not hasattr(self._fetcher, "_fetch_max_wait_ms"):
            log.error("aiokafka's fetcher has no _fetch_max_wait_ms: idle fetch waits are off")
            self._idle_ms = 0
        self._idle_after_s = policy.idle_after_ms / 1000
        self._clock = clock
        self._last_records = clock()

    @property
    def wait_ms(self) -> int:
        return int(self._fetcher._fetch_max_wait_ms)

    def polled(self, *, found: bool) -> None:
        if self._idle_ms <= self._busy_ms:
            return
        now = self._clock()
        if found:
            self._last_records = now
            self._fetcher._fetch_max_wait_ms = self._busy_ms
        elif now - self._last_records >= self._idle_after_s:
            self._fetcher._fetch_max_wait_ms = self._idle_ms


class ConsumerGroup:
    """One Kafka consumer, in one group, for all of a service's subscriptions.

    A consumer per topic cost each idle topic a fetch every `fetch_max_wait_ms` (the local
    broker holds an empty fetch for that long, never shorter): a service with five
    subscriptions spent 9 % of a core doing nothing. One consumer fetches every partition of
    every topic in one request. Each topic keeps its own `IdempotentConsumer` (its inbox
    namespace, DLQ header and metric labels stay `<service>.<topic>`).

    The records of a batch are applied topic by topic in subscription order (so, within a
    batch, `invoice-issued` before `credit-note-issued`), then committed in one request. If a
    topic fails, what the topics before it applied is committed, it and the topics after it
    are rewound to their first record of the batch, and the error propagates: nothing is
    applied or dead-lettered twice, and nothing unapplied is ever committed. The price of one
    consumer: a topic retrying poison messages one by one holds up the others meanwhile.
    """

    def __init__(
        self, *, group_id: str, consumers: Sequence[IdempotentConsumer], policy: ConsumerPolicy
    ) -> None:
        topics = [c.topic for c in consumers]
        if len(set(topics)) != len(topics):
            raise ValueError(f"a topic is subscribed twice in {group_id}: {topics}")
        self.group_id = group_id
        for consumer in consumers:
            consumer.group_id = group_id
        self._consumers = {c.topic: c for c in consumers}
        self._policy = policy
        self._backoff_s = policy.backoff_s

    def register(self, broker: KafkaBroker) -> None:
        subscriber = broker.subscriber(
            # Topics are created by the bootstrap with their partitions and cleanup policy.
            *(Topic(topic, declare=False) for topic in self._consumers),
            group_id=self.group_id,
            batch=True,
            max_records=self._policy.max_records,
            # Read only by FastStream's own poll, which `_poll_without_sleeping` replaces; kept
            # so that, were the replacement lost, its wait and sleep would be long enough for
            # test_servicekit_consumer_poll.py to see.
            batch_timeout_ms=self._policy.poll_timeout_ms,
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
            decoder=_the_batch,
        )
        _poll_without_sleeping(subscriber, self._policy)

        @subscriber
        async def consume(batch: tuple[tuple[ConsumerRecord[Any, Any], ...], Any]) -> None:
            records, consumer = batch
            # Committed and rewound here, not by FastStream's ack/nack. Its protocol type
            # names no offsets; the object is the subscriber's AIOKafkaConsumer.
            try:
                await self.apply(records, cast("Positions", consumer))
            except Exception:
                # FastStream logs it and polls again at once: the rewound batch would spin
                # against a broker or database that is down. Longer each time, up to the max.
                await asyncio.sleep(self._backoff_s)
                self._backoff_s = min(self._backoff_s * 2, self._policy.max_backoff_s)
                raise
            self._backoff_s = self._policy.backoff_s

    async def apply(self, records: Sequence[ConsumerRecord[Any, Any]], kafka: Positions) -> None:
        by_topic: dict[str, list[ConsumerRecord[Any, Any]]] = {}
        for record in records:
            by_topic.setdefault(record.topic, []).append(record)
        if unknown := set(by_topic) - set(self._consumers):
            _rewind(kafka, records)
            raise ValueError(f"{self.group_id} got records of {sorted(unknown)}")
        pending = [by_topic[t] for t in self._consumers if t in by_topic]
        applied: dict[TopicPartition, int] = {}
        for i, found in enumerate(pending):
            try:
                await self._consumers[found[0].topic].process(found)
            except BaseException:
                try:
                    if applied:
                        await kafka.commit(applied)
                finally:
                    # A later commit must never move past these: the next poll redelivers.
                    _rewind(kafka, [r for rest in pending[i:] for r in rest])
                raise
            applied.update(_after(found))
        try:
            await kafka.commit(applied)
        except BaseException:
            _rewind(kafka, records)  # applied, but redelivered: the inbox absorbs it
            raise


def _rewind(kafka: Positions, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
    first: dict[TopicPartition, int] = {}
    for r in records:
        tp = TopicPartition(r.topic, r.partition)
        first[tp] = min(first.get(tp, r.offset), r.offset)
    for partition, offset in first.items():
        try:
            kafka.seek(partition, offset)
        except IllegalStateError:
            # Taken away by a rebalance meanwhile: its new owner starts from the commit.
            continue


def _after(records: Sequence[ConsumerRecord[Any, Any]]) -> dict[TopicPartition, int]:
    """The offsets to commit once these records are applied: one past each partition's last."""
    after: dict[TopicPartition, int] = {}
    for r in records:
        tp = TopicPartition(r.topic, r.partition)
        after[tp] = max(after.get(tp, 0), r.offset + 1)
    return after


class _Decoder:
    """`decode_event`, in one validation instead of two for the kinds of event a topic
    carries: the model of the last event decoded is tried first, and its result kept only
    if the registry names that same model for the event's type and version, which is what
    `decode_event` would return. Anything else goes through `decode_event` (and its errors).
    """

    def __init__(self) -> None:
        self._last: type[EventEnvelope[Any]] | None = None
        self._models: dict[tuple[str, int], type[EventEnvelope[Any]] | None] = {}

    def __call__(self, raw: bytes) -> EventEnvelope[Any]:
        if (model := self._last) is not None:
            try:
                envelope = model.model_validate_json(raw)
            except ValidationError:
                pass
            else:
                if self._model_for(envelope.event_type, envelope.schema_version) is model:
                    return envelope
        envelope = decode_event(raw)
        self._last = type(envelope)
        return envelope

    def _model_for(self, event_type: str, version: int) -> type[EventEnvelope[Any]] | None:
        key = (event_type, version)
        if key not in self._models:
            try:
                self._models[key] = envelope_model(spec_for(event_type, version).payload_model)
            except UnknownEventError:
                self._models[key] = None
        return self._models[key]


@dataclass(frozen=True, slots=True)
class _Delivery:
    record: ConsumerRecord[Any, Any]
    envelope: EventEnvelope[Any]


class _ProcessSpans:
    """`<topic> process` spans for the fresh messages of one handler call: one per producer
    trace context that is sampled (the messages of one bulk write share it), one for those
    carrying no readable context (a root: the consumer's sampler decides), none for messages
    of unsampled traces: their spans would be recorded nowhere."""

    def __init__(self, consumer: IdempotentConsumer, batch_span: Span) -> None:
        self._consumer = consumer
        self._batch_span = batch_span
        self._batch = batch_span.get_span_context()
        self._by_parent: dict[bytes | None, tuple[Span, list[_Delivery]]] = {}

    def span_for(self, delivery: _Delivery) -> Span | None:
        parent = _traceparent(delivery.record)
        if parent is not None and (sampled := _sampled(parent)) is not True:
            if sampled is False:
                return None
            parent = None  # unreadable: as if absent
        group = self._by_parent.get(parent)
        if group is None:
            group = self._by_parent[parent] = (self._start(delivery.record, None), [])
        group[1].append(delivery)
        return group[0]

    def _start(self, record: ConsumerRecord[Any, Any], envelope: EventEnvelope[Any] | None) -> Span:
        span = self._consumer._start_message_span(record, envelope, self._batch)
        if self._batch_span.is_recording() and span.get_span_context().is_valid:
            self._batch_span.add_link(span.get_span_context())
        return span

    def fail(self, exc: BaseException) -> None:
        for span, _ in self._by_parent.values():
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))

    def end(self) -> None:
        for span, deliveries in self._by_parent.values():
            if len(deliveries) == 1:
                span.set_attribute("messaging.message.id", str(deliveries[0].envelope.event_id))
                span.set_attribute("messaging.kafka.offset", deliveries[0].record.offset)
            else:
                span.set_attribute("messaging.batch.message_count", len(deliveries))
            span.end()


def _traceparent(record: ConsumerRecord[Any, Any]) -> bytes | None:
    for key, value in record.headers or ():
        if key == "traceparent":
            return bytes(value)
    return None


def _sampled(traceparent: bytes) -> bool | None:
    """The sampled flag of a W3C traceparent (version-trace_id-parent_id-flags); None if
    it cannot be read."""
    try:
        return bool(int(traceparent.split(b"-")[3][:2], 16) & 1)
    except (IndexError, ValueError):
        return None


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


async def _the_batch(message: Any, _original: Any) -> Any:
    """The handler's argument is the batch's records and its consumer, not a decoded body:
    `decode_event` validates each record and dead-letters bad ones. The broker injects
    nothing (`apply_types=False`): FastStream's injection of a `KafkaMessage` parameter ran
    in a worker thread for every batch. Not the message itself: it caches what its decoder
    returns, and a message holding itself is garbage only a full collection frees."""
    records = message.raw_message
    return (records if isinstance(records, tuple) else (records,)), message.consumer


def _no_retry_helps(exc: Exception) -> bool:
    return isinstance(exc, EventRefused) or _is_malformed(exc)


def _is_malformed(exc: Exception) -> bool:
    """Failures no retry can fix: the bytes are not a known, valid event."""
    from pydantic import ValidationError

    from contracts.registry import UnknownEventError

    return isinstance(exc, ValidationError | UnknownEventError | json.JSONDecodeError)
