from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter, defaultdict
from typing import Any

import pytest

from contracts.registry import decode_event
from servicekit import db
from servicekit.outbox import enqueue
from servicekit.relay import OutboxRelay, oldest_age
from timecapture.db import time_entries as rows

pytestmark = pytest.mark.integration

GROUP = "invoicing"  # the Kafka group of all of invoicing's topics


OUTBOX_ID = "SELECT id FROM outbox WHERE event_id = $1"


class HandlerFailed(Exception):
    pass


async def logged_entry(tc_pool: db.Pool, make: Any, tenant_id: uuid.UUID) -> tuple[Any, Any]:
    """An entry and its event, committed to timecapture's tables and outbox."""
    entry = make.entry(tenant_id)
    event = make.event(entry)
    async with db.tenant_transaction(tc_pool, tenant_id) as conn:
        await rows.insert(conn, entry)
        await enqueue(conn, event)
    return entry, event


async def in_outbox(db_or_conn: db.Pool | db.Connection, event_ids: list[uuid.UUID]) -> int:
    count: int = await db_or_conn.fetchval(
        "SELECT count(*) FROM outbox WHERE event_id = ANY($1::uuid[])", event_ids
    )
    return count


def claims(relay: OutboxRelay) -> list[str]:
    """Event ids this relay published, recorded after each successful send."""
    seen: list[str] = []
    publish = relay._publish

    async def recording(batch: list[Any]) -> None:
        await publish(batch)
        seen.extend(json.loads(r["headers"])["event_id"] for r in batch)

    relay._publish = recording  # type: ignore[method-assign]
    return seen


async def test_rolled_back_transaction_leaves_no_outbox_row_and_publishes_nothing(
    tc_pool: db.Pool, new_relay: Any, kafka: Any, make: Any, tenant_id: uuid.UUID
) -> None:
    failed_entry = make.entry(tenant_id)
    failed = make.event(failed_entry)

    async def write_then_fail() -> None:
        async with db.tenant_transaction(tc_pool, tenant_id) as conn:
            await rows.insert(conn, failed_entry)
            await enqueue(conn, failed)
            assert await in_outbox(conn, [failed.event_id]) == 1
            raise HandlerFailed

    with pytest.raises(HandlerFailed):
        await write_then_fail()
    kept_entry = make.entry(tenant_id)
    kept = make.event(kept_entry)
    async with db.tenant_transaction(tc_pool, tenant_id) as conn:
        await rows.insert(conn, kept_entry)
        await enqueue(conn, kept)

    assert await in_outbox(tc_pool, [failed.event_id]) == 0
    assert await in_outbox(tc_pool, [kept.event_id]) == 1
    async with db.tenant_transaction(tc_pool, tenant_id) as conn:
        assert await conn.fetchval("SELECT array_agg(id) FROM time_entries") == [kept_entry.id]

    await (await new_relay()).drain()

    published = await kafka.published([failed.event_id, kept.event_id])
    assert [kafka.header(r, "event_id") for r in published] == [str(kept.event_id)]
    assert decode_event(published[0].value) == kept
    assert published[0].key == str(kept_entry.id).encode()


async def test_row_committed_after_a_later_row_is_still_published(
    tc_pool: db.Pool, new_relay: Any, kafka: Any, make: Any, tenant_id: uuid.UUID
) -> None:
    relay = await new_relay()
    early, late = make.event(make.entry(tenant_id)), make.event(make.entry(tenant_id))
    async with tc_pool.acquire() as tx1, tc_pool.acquire() as tx2:
        t1 = tx1.transaction()
        await t1.start()
        await db.set_tenant(tx1, tenant_id)
        await enqueue(tx1, early)
        async with tx2.transaction():
            await db.set_tenant(tx2, tenant_id)
            await enqueue(tx2, late)
            late_id = await tx2.fetchval(OUTBOX_ID, late.event_id)
        early_id = await tx1.fetchval(OUTBOX_ID, early.event_id)
        assert early_id < late_id  # the lower id commits last
        ids = await tc_pool.fetch(
            "SELECT event_id FROM outbox WHERE event_id = ANY($1::uuid[])",
            [early.event_id, late.event_id],
        )
        assert [r["event_id"] for r in ids] == [late.event_id]  # early is not visible yet

        await relay.drain()
        assert [
            kafka.header(r, "event_id")
            for r in await kafka.published([early.event_id, late.event_id])
        ] == [str(late.event_id)]

        await t1.commit()

    assert await tc_pool.fetchval(OUTBOX_ID, early.event_id) == early_id
    await relay.drain()

    published = await kafka.published([early.event_id, late.event_id])
    assert Counter(kafka.header(r, "event_id") for r in published) == {
        str(early.event_id): 1,
        str(late.event_id): 1,
    }
    assert await in_outbox(tc_pool, [early.event_id, late.event_id]) == 0
    assert await tc_pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_two_relays_publish_each_event_once_and_keep_per_key_order(
    tc_pool: db.Pool, new_relay: Any, kafka: Any, make: Any, tenant_id: uuid.UUID
) -> None:
    keys, versions = 20, 25
    entry_ids = [uuid.uuid4() for _ in range(keys)]
    relays = [await new_relay(batch_size=40), await new_relay(batch_size=40)]
    published = [claims(r) for r in relays]
    written: list[uuid.UUID] = []
    writing_done = asyncio.Event()

    async def write() -> None:
        # One transaction per version, committed in order: the ids of one key grow with it.
        for version in range(1, versions + 1):
            events = [
                make.event(make.entry(tenant_id, entry_id=e, version=version)) for e in entry_ids
            ]
            async with db.tenant_transaction(tc_pool, tenant_id) as conn:
                await enqueue(conn, *events)
            written.extend(e.event_id for e in events)
            await asyncio.sleep(0)
        writing_done.set()

    async def run(relay: OutboxRelay) -> None:
        while not (writing_done.is_set() and await in_outbox(tc_pool, written) == 0):
            if await relay.publish_batch() == 0:
                await asyncio.sleep(0.005)

    await asyncio.wait_for(asyncio.gather(write(), *(run(r) for r in relays)), 60)

    assert all(published), "both relays took part"
    claimed = Counter(published[0] + published[1])
    ours = {str(e) for e in written}
    assert len(written) == keys * versions
    assert {e for e in claimed if e in ours} == ours
    assert [e for e in ours if claimed[e] != 1] == []

    records = await kafka.published(written)
    assert Counter(kafka.header(r, "event_id") for r in records) == dict.fromkeys(ours, 1)
    order: dict[tuple[int, str], list[int]] = defaultdict(list)
    for r in records:  # by partition, then offset
        event = decode_event(r.value)
        order[(r.partition, str(event.payload.entry_id))].append(event.payload.version)
    assert {key for _, key in order} == {str(e) for e in entry_ids}
    bad = {k: v for k, v in order.items() if v != list(range(1, versions + 1))}
    assert bad == {}


async def test_relay_dying_after_send_resends_and_consumer_applies_once(
    tc_pool: db.Pool,
    new_relay: Any,
    kafka: Any,
    invoicing: Any,
    make: Any,
    tenant_id: uuid.UUID,
) -> None:
    await kafka.caught_up(GROUP)
    duplicates = invoicing.count("duplicate")
    entry, event = await logged_entry(tc_pool, make, tenant_id)
    relay = await new_relay()
    publish = relay._publish

    async def send_then_die(batch: list[Any]) -> None:
        await publish(batch)
        raise ConnectionResetError("relay lost its database before marking rows sent")

    relay._publish = send_then_die  # type: ignore[method-assign]
    with pytest.raises(ConnectionResetError):
        await relay.drain()
    assert await in_outbox(tc_pool, [event.event_id]) == 1
    assert len(await kafka.published([event.event_id])) == 1

    relay._publish = publish  # type: ignore[method-assign]
    await relay.drain()

    assert await in_outbox(tc_pool, [event.event_id]) == 0
    copies = await kafka.published([event.event_id])
    assert len(copies) == 2
    assert copies[0].value == copies[1].value
    last = max(copies, key=lambda r: r.offset)
    await kafka.consumed_past(GROUP, last)

    ledger = await invoicing.ledger(tenant_id)
    assert [(r["entry_id"], r["source_event_id"]) for r in ledger] == [(entry.id, event.event_id)]
    assert len(await invoicing.inbox(event.event_id)) == 1
    assert invoicing.count("duplicate") - duplicates == 1


async def test_a_relay_waiting_for_acks_stops_at_once_and_keeps_its_rows(
    tc_pool: db.Pool, new_relay: Any, make: Any, tenant_id: uuid.UUID
) -> None:
    _, event = await logged_entry(tc_pool, make, tenant_id)
    relay = await new_relay()
    never_acked: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    sent = asyncio.Event()

    async def send_without_ack(*_: Any, **__: Any) -> asyncio.Future[Any]:
        sent.set()
        return never_acked

    relay._producer.send_batch = send_without_ack  # type: ignore[method-assign]
    await relay.start()
    await asyncio.wait_for(sent.wait(), 10)
    # Not waiting on the broker: the stop is prompt (the wait for acks is cancelled with the
    # delivery it waits on), and the claim is undone, so the row goes again later.
    await asyncio.wait_for(relay.stop(), 2)
    assert never_acked.cancelled()
    assert await in_outbox(tc_pool, [event.event_id]) == 1


async def test_a_relay_stopped_just_as_a_notify_wakes_it_stops(new_relay: Any) -> None:
    # Python 3.11's asyncio.wait_for returns the awaited result instead of raising when the
    # cancellation and the result arrive together: the relay then looped on, and its stop
    # waited for ever (a test of restarts hung on it in a full run).
    relay = await new_relay(poll_interval_s=30)
    await relay.start()
    await asyncio.sleep(1)  # past its first round, idle until a NOTIFY
    for _ in range(3):
        relay._on_notify()  # the wait's result, ready in the same loop turn as the stop
        # Bounded: a stop that waits on a relay still running fails here, not in a hang.
        async with asyncio.timeout(5):
            await relay.stop()
        assert relay._task is not None
        assert relay._task.done()
        await relay.start()
        await asyncio.sleep(0.5)
    await relay.stop()


async def test_the_backlog_age_is_the_oldest_unpublished_rows_and_zero_when_empty(
    tc_pool: db.Pool,
) -> None:
    async with tc_pool.acquire() as conn:
        # One transaction, rolled back: no running relay takes these rows before the reads,
        # and the shared outbox is left as it was.
        tx = conn.transaction()
        await tx.start()
        try:
            await conn.execute("DELETE FROM outbox")
            empty = await oldest_age(conn)
            for age in (30, 5):
                await conn.execute(
                    "INSERT INTO outbox (lane, event_id, topic, key, value, headers, created_at) "
                    "VALUES (0, $1, 'time-entry-logged', 'k', 'v', '{}', "
                    "clock_timestamp() - make_interval(secs => $2))",
                    uuid.uuid4(),
                    age,
                )
            waiting = await oldest_age(conn)
        finally:
            await tx.rollback()

    assert empty == 0.0
    assert 30 <= waiting < 40
