from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from contracts.registry import encode_event
from contracts.topics import dlq_topic
from servicekit.testing import eventually

pytestmark = pytest.mark.integration

TOPIC = "time-entry-logged"
# Invoicing consumes every topic in one group; each topic has its own inbox namespace.
GROUP = "invoicing"
CONSUMER = "invoicing.time-entry-logged"


def dlq_header(record: Any, name: str) -> str:
    value = dict(record.headers)[name]
    return bytes(value).decode()


async def test_event_delivered_three_times_has_one_effect(
    invoicing: Any, kafka: Any, make: Any, tenant_id: uuid.UUID
) -> None:
    await kafka.caught_up(GROUP)
    duplicates, processed = invoicing.count("duplicate"), invoicing.count("processed")
    entry = make.entry(tenant_id)
    event = make.event(entry)
    value, key = encode_event(event), str(entry.id).encode()

    sent = [await kafka.produce(value, key=key) for _ in range(3)]
    assert len({(m.partition, m.offset) for m in sent}) == 3
    await kafka.consumed_past(GROUP, max(sent, key=lambda m: m.offset))

    ledger = await invoicing.ledger(tenant_id)
    assert [(r["entry_id"], r["version"], r["source_event_id"]) for r in ledger] == [
        (entry.id, 1, event.event_id)
    ]
    inbox = await invoicing.inbox(event.event_id)
    assert [r["consumer"] for r in inbox] == [CONSUMER]
    assert invoicing.count("duplicate") - duplicates == 2
    assert invoicing.count("processed") - processed == 1


async def test_poison_messages_go_to_the_dlq_and_the_partition_keeps_flowing(
    invoicing: Any, kafka: Any, make: Any, tenant_id: uuid.UUID
) -> None:
    await kafka.caught_up(GROUP)
    dead_before = invoicing.count("dead_lettered")
    good_entry = make.entry(tenant_id)
    key = str(good_entry.id).encode()  # one key: one partition, in this order

    unknown = json.loads(encode_event(make.event(make.entry(tenant_id))))
    unknown["schema_version"] = 99
    refused_entry = make.entry(tenant_id)
    refused = make.event(refused_entry)
    invoicing.rejected.add(refused_entry.id)
    poison = {
        "ValidationError": b'{"event_id": "not json',
        "UnknownEventError": json.dumps(unknown).encode(),
        "LedgerRejected": encode_event(refused),
    }
    injected = {name: await kafka.produce(value, key=key) for name, value in poison.items()}
    good = make.event(good_entry)
    last = await kafka.produce(encode_event(good), key=key)
    assert {m.partition for m in injected.values()} == {last.partition}

    await kafka.consumed_past(GROUP, last)

    ledger = await invoicing.ledger(tenant_id)
    assert [(r["entry_id"], r["source_event_id"]) for r in ledger] == [
        (good_entry.id, good.event_id)
    ]
    dead = [r for r in await kafka.records(dlq_topic(TOPIC)) if r.key == key]
    assert len(dead) == len(poison)
    assert invoicing.count("dead_lettered") - dead_before == len(poison)
    by_offset = {int(dlq_header(r, "dlq.original_offset")): r for r in dead}
    for name, meta in injected.items():
        record = by_offset[meta.offset]
        assert record.value == poison[name]
        assert dlq_header(record, "dlq.original_topic") == TOPIC
        assert dlq_header(record, "dlq.original_partition") == str(meta.partition)
        assert dlq_header(record, "dlq.error_type") == name
        assert dlq_header(record, "dlq.consumer") == CONSUMER
    # Malformed bytes are not retried; a refused event is, up to the attempt limit.
    for malformed in ("ValidationError", "UnknownEventError"):
        assert dlq_header(by_offset[injected[malformed].offset], "dlq.attempts") == "1"
    assert dlq_header(by_offset[injected["LedgerRejected"].offset], "dlq.attempts") == str(
        invoicing.runtime.settings.consumer_max_attempts
    )
    assert await invoicing.inbox(uuid.UUID(unknown["event_id"])) == []
    # The refused event is remembered as dead-lettered, so a redelivery is not sent again.
    assert [r["outcome"] for r in await invoicing.inbox(refused.event_id)] == ["dead_lettered"]


async def test_redelivery_after_a_lost_offset_commit_is_absorbed(
    invoicing: Any, kafka: Any, make: Any, tenant_id: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    await kafka.caught_up(GROUP)
    duplicates = invoicing.count("duplicate")
    ends = await kafka.end_offsets()
    entry = make.entry(tenant_id)
    event = make.event(entry)
    commits: list[str] = []
    commit = AIOKafkaConsumer.commit

    async def lost_once(consumer: AIOKafkaConsumer, offsets: Any = None) -> None:
        past_ends = _moves_past(offsets, ends)
        if past_ends and not commits:
            commits.append("lost")
            raise ConnectionResetError("the commit was lost after the transaction committed")
        if past_ends:
            commits.append("committed")
        await commit(consumer, offsets)

    monkeypatch.setattr(AIOKafkaConsumer, "commit", lost_once)
    sent = await kafka.produce(encode_event(event), key=str(entry.id).encode())

    # The failed commit rewinds the partition: the record comes again, and only the inbox
    # stands between it and a second effect.
    await kafka.consumed_past(GROUP, sent)

    assert commits[:2] == ["lost", "committed"]
    assert invoicing.count("duplicate") - duplicates == 1
    ledger = await invoicing.ledger(tenant_id)
    assert [(r["entry_id"], r["source_event_id"]) for r in ledger] == [(entry.id, event.event_id)]
    assert len(await invoicing.inbox(event.event_id)) == 1


async def test_a_restart_before_the_offset_commit_redelivers_and_changes_nothing(
    invoicing: Any, kafka: Any, make: Any, tenant_id: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    await kafka.caught_up(GROUP)
    ends = await kafka.end_offsets()
    entry = make.entry(tenant_id)
    event = make.event(entry)
    commit = AIOKafkaConsumer.commit

    async def never(consumer: AIOKafkaConsumer, offsets: Any = None) -> None:
        if _moves_past(offsets, ends):
            raise ConnectionResetError("the consumer died before committing")
        await commit(consumer, offsets)

    monkeypatch.setattr(AIOKafkaConsumer, "commit", never)
    sent = await kafka.produce(encode_event(event), key=str(entry.id).encode())
    await eventually(lambda: invoicing.ledger(tenant_id), timeout=20, message="ledger row")
    await invoicing.runtime.stop_consumers()
    # Stopped with the effect applied and the offset not committed: only a redelivery is left.
    assert (await kafka.committed(GROUP)).get(sent.partition, -1) <= sent.offset
    # Counted after the stop: the refused commits had the record redelivered meanwhile.
    before_restart = invoicing.count("duplicate")

    monkeypatch.setattr(AIOKafkaConsumer, "commit", commit)
    await invoicing.runtime.start_consumers()
    await kafka.consumed_past(GROUP, sent)

    assert invoicing.count("duplicate") - before_restart == 1
    ledger = await invoicing.ledger(tenant_id)
    assert [(r["entry_id"], r["source_event_id"]) for r in ledger] == [(entry.id, event.event_id)]
    assert len(await invoicing.inbox(event.event_id)) == 1


async def test_records_faststream_cannot_parse_are_dead_lettered_not_skipped(
    invoicing: Any, kafka: Any, make: Any, tenant_id: uuid.UUID
) -> None:
    """A JSON content-type over bad JSON, or a binary header, must not make the batch vanish."""
    await kafka.caught_up(GROUP)
    dead_before = invoicing.count("dead_lettered")
    good_entry = make.entry(tenant_id)
    key = str(good_entry.id).encode()
    bad_json = await kafka.produce(
        b'{"event_id": "trunc', key=key, headers=[("content-type", b"application/json")]
    )
    binary_header = await kafka.produce(
        b"not an event",
        key=key,
        headers=[("content-type", b"application/json"), ("x", b"\xff\xfe")],
    )
    good = make.event(good_entry)
    last = await kafka.produce(
        encode_event(good), key=key, headers=[("content-type", b"application/json"), ("y", b"\xff")]
    )

    await kafka.consumed_past(GROUP, last)

    ledger = await invoicing.ledger(tenant_id)
    assert [r["source_event_id"] for r in ledger] == [good.event_id]
    dead = [r for r in await kafka.records(dlq_topic(TOPIC)) if r.key == key]
    assert sorted(int(dlq_header(r, "dlq.original_offset")) for r in dead) == sorted(
        [bad_json.offset, binary_header.offset]
    )
    assert invoicing.count("dead_lettered") - dead_before == 2


async def test_redelivered_dead_letter_is_not_dead_lettered_again(
    invoicing: Any, kafka: Any, make: Any, tenant_id: uuid.UUID
) -> None:
    await kafka.caught_up(GROUP)
    refused_entry = make.entry(tenant_id)
    refused = make.event(refused_entry)
    invoicing.rejected.add(refused_entry.id)
    key = str(refused_entry.id).encode()

    first = await kafka.produce(encode_event(refused), key=key)
    await kafka.consumed_past(GROUP, first)
    dead_before = invoicing.count("dead_lettered")
    duplicates_before = invoicing.count("duplicate")
    again = await kafka.produce(encode_event(refused), key=key)
    await kafka.consumed_past(GROUP, again)

    dead = [r for r in await kafka.records(dlq_topic(TOPIC)) if r.key == key]
    assert len(dead) == 1
    assert invoicing.count("dead_lettered") == dead_before
    assert invoicing.count("duplicate") - duplicates_before == 1


def _moves_past(offsets: Any, ends: dict[int, int]) -> bool:
    """A commit that would move the topic past the records produced since `ends`."""
    return bool(offsets) and any(
        tp.topic == TOPIC and offset > ends.get(tp.partition, 0) for tp, offset in offsets.items()
    )
