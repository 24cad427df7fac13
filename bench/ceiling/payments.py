"""Payments' durable work alone: per POST one statement (the idempotency row with the
answer, the receivable locked and paid, the payment, the outbox row) in its own implicit
transaction; and a relay (LISTEN, claim with `DELETE ... SKIP LOCKED`, publish with the
relay's producer, commit after the acks) in the same process, as in payments."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import asyncpg
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Header, Request, Response
from pydantic import BaseModel, Field

from bench.ceiling import (
    NOTIFY_CHANNEL,
    SCHEMA,
    TOPIC,
    App,
    Scope,
    env,
    frameworks,
    read_body,
    respond,
    serve,
)
from servicekit.relay import new_producer, partition_for

_PAY = f"""
WITH inv AS (
    SELECT invoice_id, client_id FROM {SCHEMA}.receivables
    WHERE invoice_id = $1 AND currency = $2 FOR UPDATE
), kept AS (
    INSERT INTO {SCHEMA}.idempotency_keys (key, fingerprint, status_code, body)
    SELECT $3, $4, 201, $5 FROM inv ON CONFLICT DO NOTHING RETURNING key
), paid AS (
    INSERT INTO {SCHEMA}.payments (id, invoice_id, client_id, currency, amount_minor, method)
    SELECT $6, inv.invoice_id, inv.client_id, $2, $7, $8 FROM inv, kept RETURNING id
), owed AS (
    UPDATE {SCHEMA}.receivables r SET paid_minor = r.paid_minor + $7
    FROM paid WHERE r.invoice_id = $1 RETURNING 1
), sent AS (
    INSERT INTO {SCHEMA}.outbox (key, value) SELECT $9, $10 FROM paid RETURNING 1
)
SELECT (SELECT count(*) FROM inv) AS found, (SELECT count(*) FROM paid) AS stored
"""
_STORED = f"SELECT status_code, body FROM {SCHEMA}.idempotency_keys WHERE key = $1"
_CLAIM = f"""
DELETE FROM {SCHEMA}.outbox WHERE id = ANY(ARRAY(
    SELECT id FROM {SCHEMA}.outbox ORDER BY id LIMIT 1000 FOR UPDATE SKIP LOCKED
)) RETURNING id, key, value
"""


class Payments(App):
    def __init__(self, dsn: str, kafka: str) -> None:
        self._dsn = dsn
        self._kafka = kafka
        self._pool: asyncpg.Pool | None = None
        self._producer: AIOKafkaProducer | None = None
        self._relay: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._pool = await asyncpg.create_pool(self._dsn, min_size=2, max_size=8)
        self._producer = new_producer(self._kafka, "ceiling-payments")
        await self._producer.start()
        self._relay = asyncio.create_task(self._relay_loop())

    async def stop(self) -> None:
        if self._relay is not None:
            self._relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._relay
        if self._producer is not None:
            await self._producer.stop()
        if self._pool is not None:
            await self._pool.close()

    async def handle(self, scope: Scope, receive: Any, send: Any) -> None:
        raw = await read_body(receive)
        key = dict(scope["headers"])[b"idempotency-key"].decode()
        await respond(send, *await self.pay(json.loads(raw), raw, key))

    async def pay(self, request: dict[str, Any], raw: bytes, key: str) -> tuple[int, bytes]:
        """The payment's one statement; (status, body) of the answer."""
        assert self._pool is not None
        payment_id = uuid.uuid4()
        invoice_id = uuid.UUID(request["invoice_id"])
        now = datetime.now(UTC).isoformat()
        answer = json.dumps(
            {
                "id": str(payment_id),
                "invoice_id": str(invoice_id),
                "amount_minor": request["amount_minor"],
                "currency": request["currency"],
                "method": request["method"],
                "status": "succeeded",
                "created_at": now,
            }
        ).encode()
        event = json.dumps(
            {
                "event_id": str(uuid.uuid4()),
                "event_type": "payment.received",
                "schema_version": 1,
                "occurred_at": now,
                "payload": {
                    "payment_id": str(payment_id),
                    "invoice_id": str(invoice_id),
                    "amount_minor": request["amount_minor"],
                    "currency": request["currency"],
                    "method": request["method"],
                    "received_at": now,
                },
            }
        ).encode()
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                _PAY,
                invoice_id,
                request["currency"],
                key,
                hashlib.sha256(raw).digest(),
                answer,
                payment_id,
                request["amount_minor"],
                request["method"],
                invoice_id.bytes,
                event,
            )
            assert row is not None
            if not row["found"]:
                return 404, b'{"title": "no such invoice"}'
            if not row["stored"]:  # the key was used before: its answer again
                stored = await conn.fetchrow(_STORED, key)
                assert stored is not None
                return stored["status_code"], stored["body"]
        return 201, answer

    async def _relay_loop(self) -> None:
        assert self._pool is not None
        assert self._producer is not None
        wakeup = asyncio.Event()
        listener = await asyncpg.connect(self._dsn)
        await listener.add_listener(NOTIFY_CHANNEL, lambda *_: wakeup.set())
        partitions = sorted(await self._producer.partitions_for(TOPIC))
        try:
            while True:
                wakeup.clear()
                async with self._pool.acquire() as conn, conn.transaction():
                    rows = sorted(await conn.fetch(_CLAIM), key=lambda r: r["id"])
                    batches: dict[int, Any] = {}
                    for row in rows:
                        p = partition_for(row["key"], partitions)
                        batch = batches.get(p) or batches.setdefault(
                            p, self._producer.create_batch()
                        )
                        if batch.append(key=row["key"], value=row["value"], timestamp=None) is None:
                            raise RuntimeError("a batch of the ceiling's rows is full")
                    futures = [
                        await self._producer.send_batch(b, TOPIC, partition=p)
                        for p, b in batches.items()
                    ]
                    await asyncio.gather(*futures)
                if len(rows) < 1000:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wakeup.wait(), 1.0)
        finally:
            await listener.close()


class PaymentIn(BaseModel):
    """What a framework-built service validates: the fields the bench sends."""

    invoice_id: uuid.UUID
    amount_minor: int = Field(gt=0)
    currency: str = Field(pattern="^[A-Z]{3}$")
    method: Literal["card", "bank_transfer", "ach", "cash", "check", "other"]


def with_fastapi(payments: Payments) -> FastAPI:
    """The same work behind FastAPI: routing, a pydantic body, header injection."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await payments.start()
        yield
        await payments.stop()

    app = FastAPI(lifespan=lifespan)

    @app.post("/v1/payments", status_code=201)
    async def record(
        body: PaymentIn, request: Request, idempotency_key: Annotated[str, Header()]
    ) -> Response:
        code, answer = await payments.pay(
            body.model_dump(mode="json"), await request.body(), idempotency_key
        )
        return Response(answer, status_code=code, media_type="application/json")

    return app


if __name__ == "__main__":
    part = Payments(env("DSN"), env("KAFKA"))
    serve(with_fastapi(part) if frameworks() else part)
