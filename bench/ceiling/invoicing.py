"""Invoicing's consumer alone: batches from aiokafka (a group, the services' fetch wait and
batch size), per batch one statement (the inbox rows, the invoices paid, their payment rows)
in its own implicit transaction, then the offsets committed."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid

import asyncpg
from aiokafka import AIOKafkaConsumer

from bench.ceiling import SCHEMA, TOPIC, env
from servicekit.consumer import ConsumerPolicy

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
            await pool.execute(
                _APPLY,
                [uuid.UUID(e["event_id"]) for e in events],
                [uuid.UUID(e["payload"]["payment_id"]) for e in events],
                [uuid.UUID(e["payload"]["invoice_id"]) for e in events],
                [e["payload"]["amount_minor"] for e in events],
            )
            await consumer.commit()
    finally:
        await consumer.stop()
        await pool.close()


if __name__ == "__main__":
    import gc

    from servicekit.cli import GC_YOUNG_THRESHOLD

    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)
    import uvloop

    uvloop.run(consume(env("DSN"), env("KAFKA")))
