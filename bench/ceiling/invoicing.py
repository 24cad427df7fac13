"""Invoicing's consumer alone: batches from aiokafka (a group, the services' fetch wait and
batch size), per batch one statement (the inbox rows, the invoices paid, their payment rows)
in its own implicit transaction, then the offsets committed."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import signal
import uuid
from typing import Any

import asyncpg
import uvloop
from aiokafka import AIOKafkaConsumer
from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaBroker, Topic

from bench.ceiling import SCHEMA, TOPIC, env, frameworks
from servicekit.cli import GC_YOUNG_THRESHOLD
from servicekit.consumer import ConsumerPolicy, _poll_without_sleeping

_APPLY = f"""
WITH fresh AS (
    INSERT INTO {SCHEMA}.inbox (event_id) SELECT unnest($1::uuid[])
    ON CONFLICT DO NOTHING RETURNING event_id
), money AS (
    SELECT m.* FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::bigint[])
        AS m(event_id, payment_id, invoice_id, amount_minor)
    JOIN fresh USING (event_id)
), booked AS (
    INSERT INTO {SCHEMA}.invoice_payments (id, invoice_id, amount_minor)
    SELECT payment_id, invoice_id, amount_minor FROM money RETURNING 1
), per_invoice AS (
    SELECT invoice_id, sum(amount_minor) AS amount_minor FROM money GROUP BY invoice_id
)
UPDATE {SCHEMA}.invoices i SET
    paid_minor = i.paid_minor + p.amount_minor,
    payment_status = CASE WHEN i.paid_minor + p.amount_minor >= i.total_minor
        THEN 'paid' ELSE 'partial' END
FROM per_invoice p WHERE i.id = p.invoice_id
"""


async def apply(pool: asyncpg.Pool, events: list[dict[str, Any]]) -> None:
    await pool.execute(
        _APPLY,
        [uuid.UUID(e["event_id"]) for e in events],
        [uuid.UUID(e["payload"]["payment_id"]) for e in events],
        [uuid.UUID(e["payload"]["invoice_id"]) for e in events],
        [e["payload"]["amount_minor"] for e in events],
    )


async def consume(dsn: str, kafka: str) -> None:
    policy = ConsumerPolicy()
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=kafka,
        group_id="ceiling-invoicing",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=policy.fetch_max_wait_ms,
    )
    await consumer.start()
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    try:
        while not stopping.is_set():
            got = await consumer.getmany(
                timeout_ms=policy.poll_timeout_ms, max_records=policy.max_records
            )
            events = [json.loads(r.value) for records in got.values() for r in records]
            if not events:
                continue
            await apply(pool, events)
            await consumer.commit()
    finally:
        await consumer.stop()
        await pool.close()


async def consume_with_faststream(dsn: str, kafka: str) -> None:
    """The same batches through a FastStream batch subscriber (its consume loop, decoding
    and ack after the handler), polled as the services poll it (without FastStream's sleep
    after an empty poll), with none of the services' middleware."""
    policy = ConsumerPolicy()
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    broker = KafkaBroker(kafka, apply_types=False, log_level=logging.DEBUG)

    subscriber = broker.subscriber(
        Topic(TOPIC, declare=False),  # made by the bench's broker start, as in the services
        group_id="ceiling-invoicing",
        batch=True,
        max_records=policy.max_records,
        batch_timeout_ms=policy.fetch_max_wait_ms,
        fetch_max_wait_ms=policy.fetch_max_wait_ms,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.ACK,
    )
    _poll_without_sleeping(subscriber, policy)

    @subscriber
    async def on_batch(bodies: list[Any]) -> None:
        await apply(pool, [b if isinstance(b, dict) else json.loads(b) for b in bodies])

    try:
        await FastStream(broker).run()
    finally:
        await pool.close()


if __name__ == "__main__":
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)
    run = consume_with_faststream if frameworks() else consume
    uvloop.run(run(env("DSN"), env("KAFKA")))
