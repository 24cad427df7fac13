"""One consumer group for all of a service's topics: each batch split by topic, applied in
subscription order, each topic in its own inbox namespace, committed once applied; a topic
that fails is rewound with the topics after it, and nothing of theirs is committed."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import IllegalStateError

from contracts.envelope import EventEnvelope
from contracts.events.time_entries import TimeEntryState
from contracts.registry import build_event, encode_event
from servicekit import db
from servicekit.consumer import ConsumerGroup, ConsumerPolicy, IdempotentConsumer, Subscription
from servicekit.metrics import ServiceMetrics
from servicekit.testing import Infra

pytestmark = pytest.mark.integration

# The subscription order: a parent stream first, the stream that refers to it second.
PARENTS, CHILDREN = "parents-topic", "children-topic"
_offsets = itertools.count()


def event(tenant_id: uuid.UUID) -> EventEnvelope[Any]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    state = TimeEntryState(
        entry_id=uuid.uuid4(),
        version=1,
        member_id=uuid.uuid4(),
        project_id=uuid.uuid4(),
        task=None,
        description="",
        started_at=start,
        ended_at=start + timedelta(minutes=30),
        duration_seconds=1800,
        billable=True,
        tags=[],
    )
    return build_event(
        "time_entry.logged",
        state,
        tenant_id=tenant_id,
        producer="timecapture",
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
    )


def record(topic: str, e: EventEnvelope[Any], partition: int = 0) -> ConsumerRecord[bytes, bytes]:
    value = encode_event(e)
    return ConsumerRecord(
        topic=topic,
        partition=partition,
        offset=next(_offsets),
        timestamp=0,
        timestamp_type=0,
        key=b"k",
        value=value,
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=len(value),
        headers=[],
    )


class Refused(Exception):
    pass


class Recorder:
    def __init__(self, *, refusing: str | None = None) -> None:
        self.applied: list[tuple[str, uuid.UUID]] = []
        self.refusing = refusing

    def subscription(self, topic: str) -> Subscription:
        async def handler(conn: db.Connection, e: EventEnvelope[Any]) -> None:
            # Inside the consumer's transaction, scoped to the event's tenant.
            assert await conn.fetchval("SELECT current_tenant()") == e.tenant_id
            if topic == self.refusing:
                raise Refused(topic)
            self.applied.append((topic, e.event_id))

        return Subscription(topic, handler)


class BrokerDown:
    """The dead-letter producer when the broker is unreachable."""

    async def send_and_wait(self, *args: Any, **kwargs: Any) -> None:
        raise ConnectionError("broker unreachable")


class Positions:
    """Records what the group asks of the Kafka consumer; `commit_fails` makes the broker
    refuse commits, `revoked` partitions were taken away by a rebalance."""

    def __init__(
        self, *, commit_fails: bool = False, revoked: frozenset[TopicPartition] = frozenset()
    ) -> None:
        self.committed: dict[TopicPartition, int] = {}
        self.commits = 0
        self.seeks: dict[TopicPartition, int] = {}
        self.commit_fails = commit_fails
        self.revoked = revoked

    def seek(self, partition: TopicPartition, offset: int) -> None:
        if partition in self.revoked:
            raise IllegalStateError(f"no current assignment for partition {partition}")
        self.seeks[partition] = offset

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.commit_fails:
            raise ConnectionError("commit refused: coordinator unavailable")
        self.commits += 1
        self.committed.update(offsets)


def group_of(pool: db.Pool, recorder: Recorder, name: str) -> ConsumerGroup:
    # One attempt, then the dead letter (whose send fails when the broker is down).
    policy = ConsumerPolicy(max_attempts=1, backoff_s=0.0)
    consumers = [
        IdempotentConsumer(
            name=f"{name}.{topic}",
            subscription=recorder.subscription(topic),
            pool=pool,
            producer=BrokerDown(),  # type: ignore[arg-type]
            metrics=ServiceMetrics("invoicing"),
            policy=policy,
        )
        for topic in (PARENTS, CHILDREN)
    ]
    return ConsumerGroup(group_id=name, consumers=consumers, policy=policy)


async def inbox(infra: Infra, consumer: str) -> set[uuid.UUID]:
    conn = await asyncpg.connect(infra.dsn("invoicing"))
    try:
        found = await conn.fetch("SELECT event_id FROM inbox WHERE consumer = $1", consumer)
    finally:
        await conn.close()
    return {r["event_id"] for r in found}


async def test_a_mixed_batch_is_applied_topic_by_topic_in_subscription_order(
    infra: Infra, inv_pool: db.Pool, tenant_id: uuid.UUID
) -> None:
    recorder = Recorder()
    name = f"group-test-{uuid.uuid4()}"
    group = group_of(inv_pool, recorder, name)
    child1, parent1, child2, parent2 = (event(tenant_id) for _ in range(4))

    batch = [
        record(CHILDREN, child1),
        record(PARENTS, parent1),
        record(CHILDREN, child2),
        record(PARENTS, parent2),
    ]
    kafka = Positions()

    await group.apply(batch, kafka)

    # Parents first, each topic in delivery order, every event to its own topic's handler.
    assert recorder.applied == [
        (PARENTS, parent1.event_id),
        (PARENTS, parent2.event_id),
        (CHILDREN, child1.event_id),
        (CHILDREN, child2.event_id),
    ]
    assert await inbox(infra, f"{name}.{PARENTS}") == {parent1.event_id, parent2.event_id}
    assert await inbox(infra, f"{name}.{CHILDREN}") == {child1.event_id, child2.event_id}
    assert kafka.committed == {
        TopicPartition(PARENTS, 0): batch[3].offset + 1,
        TopicPartition(CHILDREN, 0): batch[2].offset + 1,
    }
    assert kafka.seeks == {}


async def test_a_failing_topic_is_rewound_and_uncommitted_and_the_topics_before_it_committed(
    infra: Infra, inv_pool: db.Pool, tenant_id: uuid.UUID
) -> None:
    recorder = Recorder(refusing=CHILDREN)
    name = f"group-test-{uuid.uuid4()}"
    group = group_of(inv_pool, recorder, name)
    parent, child1, child2 = (event(tenant_id) for _ in range(3))
    batch = [
        record(CHILDREN, child1, partition=1),
        record(PARENTS, parent, partition=2),
        record(CHILDREN, child2, partition=3),
    ]
    kafka = Positions()

    # The child is refused and its dead letter cannot be sent: the error must come out.
    with pytest.raises(ConnectionError):
        await group.apply(batch, kafka)

    assert recorder.applied == [(PARENTS, parent.event_id)]
    assert kafka.committed == {TopicPartition(PARENTS, 2): batch[1].offset + 1}
    assert kafka.seeks == {
        TopicPartition(CHILDREN, 1): batch[0].offset,
        TopicPartition(CHILDREN, 3): batch[2].offset,
    }
    assert await inbox(infra, f"{name}.{CHILDREN}") == set()


async def test_a_record_of_a_topic_nobody_subscribed_fails_the_batch_loudly(
    inv_pool: db.Pool, tenant_id: uuid.UUID
) -> None:
    recorder = Recorder()
    group = group_of(inv_pool, recorder, f"group-test-{uuid.uuid4()}")
    kafka = Positions()

    batch = [record(PARENTS, event(tenant_id)), record("other-topic", event(tenant_id))]

    with pytest.raises(ValueError, match="other-topic"):
        await group.apply(batch, kafka)

    assert recorder.applied == []
    assert kafka.committed == {}
    # Rewound, so a later commit cannot move past the subscribed topic's record unapplied.
    assert kafka.seeks == {
        TopicPartition(PARENTS, 0): batch[0].offset,
        TopicPartition("other-topic", 0): batch[1].offset,
    }


async def test_a_refused_commit_rewinds_the_whole_batch_and_its_redelivery_changes_nothing(
    inv_pool: db.Pool, tenant_id: uuid.UUID
) -> None:
    recorder = Recorder()
    group = group_of(inv_pool, recorder, f"group-test-{uuid.uuid4()}")
    parent, child = event(tenant_id), event(tenant_id)
    batch = [record(PARENTS, parent, partition=1), record(CHILDREN, child, partition=2)]
    refusing = Positions(commit_fails=True)

    with pytest.raises(ConnectionError):
        await group.apply(batch, refusing)
    assert refusing.seeks == {
        TopicPartition(PARENTS, 1): batch[0].offset,
        TopicPartition(CHILDREN, 2): batch[1].offset,
    }
    again = Positions()
    await group.apply(batch, again)

    assert recorder.applied == [(PARENTS, parent.event_id), (CHILDREN, child.event_id)]
    assert again.commits == 1  # one commit request for every topic of the batch
    assert again.committed == {
        TopicPartition(PARENTS, 1): batch[0].offset + 1,
        TopicPartition(CHILDREN, 2): batch[1].offset + 1,
    }


async def test_a_partition_revoked_meanwhile_does_not_hide_the_failure(
    inv_pool: db.Pool, tenant_id: uuid.UUID
) -> None:
    recorder = Recorder(refusing=CHILDREN)
    group = group_of(inv_pool, recorder, f"group-test-{uuid.uuid4()}")
    batch = [
        record(CHILDREN, event(tenant_id), partition=4),
        record(CHILDREN, event(tenant_id), partition=5),
    ]
    kafka = Positions(revoked=frozenset({TopicPartition(CHILDREN, 4)}))

    with pytest.raises(ConnectionError, match="broker unreachable"):
        await group.apply(batch, kafka)

    assert kafka.seeks == {TopicPartition(CHILDREN, 5): batch[1].offset}
    assert kafka.committed == {}


async def test_a_redelivered_mixed_batch_changes_nothing(
    inv_pool: db.Pool, tenant_id: uuid.UUID
) -> None:
    recorder = Recorder()
    group = group_of(inv_pool, recorder, f"group-test-{uuid.uuid4()}")
    parent, child = event(tenant_id), event(tenant_id)
    batch = [record(CHILDREN, child), record(PARENTS, parent)]

    await group.apply(batch, Positions())
    await group.apply(batch, Positions())

    assert recorder.applied == [(PARENTS, parent.event_id), (CHILDREN, child.event_id)]


def test_a_topic_subscribed_twice_is_refused() -> None:
    recorder = Recorder()
    consumers = [
        IdempotentConsumer(
            name=f"twice.{i}",
            subscription=recorder.subscription(PARENTS),
            pool=None,  # type: ignore[arg-type]
            producer=None,  # type: ignore[arg-type]
            metrics=ServiceMetrics("invoicing"),
            policy=ConsumerPolicy(),
        )
        for i in range(2)
    ]

    with pytest.raises(ValueError, match="subscribed twice"):
        ConsumerGroup(group_id="twice", consumers=consumers, policy=ConsumerPolicy())
