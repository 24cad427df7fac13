"""Transactional outbox writer: call inside the business transaction."""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from typing import Any

from opentelemetry.propagate import inject

from contracts.envelope import EventEnvelope
from contracts.registry import encode_event, event_key, spec_for
from servicekit.db import Connection

# Rows are spread over lanes by key; a relay holds a lane for a whole batch, so two
# relays never publish events of one key out of order.
LANES = 16

_INSERT = """
INSERT INTO outbox (lane, event_id, topic, key, value, headers)
VALUES ($1, $2, $3, $4, $5, $6::jsonb)
"""


def notify_channel(schema: str) -> str:
    """Channel the outbox trigger notifies on commit (see the kit's first migration)."""
    return f"outbox_{schema}"


def lane_of(key: bytes) -> int:
    return zlib.crc32(key) % LANES


def _row(envelope: EventEnvelope[Any]) -> tuple[Any, ...]:
    spec = spec_for(envelope.event_type, envelope.schema_version)
    key = event_key(envelope)
    headers: dict[str, str] = {
        "content-type": "application/json",
        "event_type": envelope.event_type,
        "event_id": str(envelope.event_id),
        "schema_version": str(envelope.schema_version),
    }
    # The trace context of the writing transaction, restored by the relay on publish.
    inject(headers)
    return (
        lane_of(key),
        envelope.event_id,
        spec.topic,
        key,
        encode_event(envelope),
        json.dumps(headers),
    )


async def enqueue(conn: Connection, *envelopes: EventEnvelope[Any]) -> None:
    """Stage events for publication; they become visible only if the transaction commits."""
    await enqueue_many(conn, envelopes)


async def enqueue_many(conn: Connection, envelopes: Sequence[EventEnvelope[Any]]) -> None:
    if not envelopes:
        return
    if not conn.is_in_transaction():
        # Outside a transaction the event would commit on its own, apart from the write.
        raise RuntimeError("enqueue events inside the business transaction")
    rows = [_row(e) for e in envelopes]
    if len(rows) == 1:
        await conn.execute(_INSERT, *rows[0])
    else:
        await conn.executemany(_INSERT, rows)
