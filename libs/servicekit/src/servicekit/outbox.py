"""Transactional outbox writer: call inside the business transaction."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

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


_INSERT_MANY = """
INSERT INTO outbox (lane, event_id, topic, key, value, headers)
SELECT * FROM unnest($1::smallint[], $2::uuid[], $3::text[], $4::bytea[], $5::bytea[],
    $6::jsonb[])
"""


def notify_channel(schema: str) -> str:
    """Channel the outbox trigger notifies on commit (see the kit's first migration)."""
    return f"outbox_{schema}"


def lane_of(key: bytes) -> int:
    return zlib.crc32(key) % LANES


def outbox_row(envelope: EventEnvelope[Any]) -> tuple[Any, ...]:
    """(lane, event_id, topic, key, value, headers): an outbox row, for a service statement
    that writes its change and its event in one round trip (see `insert_outbox_sql`)."""
    return _row(envelope)


def insert_outbox_sql(first_param: int, source: str) -> str:
    """`INSERT INTO outbox ... SELECT <params> FROM <source>`: the event is staged only when
    `source` (a CTE of the same statement) returned a row."""
    p = [f"${first_param + i}" for i in range(6)]
    return (
        "INSERT INTO outbox (lane, event_id, topic, key, value, headers) "
        f"SELECT {p[0]}, {p[1]}, {p[2]}, {p[3]}, {p[4]}, {p[5]}::jsonb FROM {source}"
    )


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


def require_transaction(conn: Connection) -> None:
    if not conn.is_in_transaction():
        # Outside a transaction the event would commit on its own, apart from the write.
        raise RuntimeError("enqueue events inside the business transaction")


async def enqueue(conn: Connection, *envelopes: EventEnvelope[Any]) -> None:
    """Stage events for publication; they become visible only if the transaction commits."""
    await enqueue_many(conn, envelopes)


async def enqueue_many(conn: Connection, envelopes: Sequence[EventEnvelope[Any]]) -> None:
    if not envelopes:
        return
    require_transaction(conn)
    rows = [_row(e) for e in envelopes]
    if len(rows) == 1:
        await conn.execute(_INSERT, *rows[0])
    else:
        # One statement for the lot: a row per statement costs a parse and a round trip each.
        await conn.execute(_INSERT_MANY, *(list(column) for column in zip(*rows, strict=True)))


@dataclass(frozen=True, slots=True)
class EncodedEvent:
    """An event already encoded by its contract (see `contracts.bulk`), for bulk staging."""

    event_id: UUID | str
    event_type: str
    schema_version: int
    topic: str
    key: bytes
    value: bytes


_COLUMNS = ("lane", "event_id", "topic", "key", "value", "headers")


async def copy_encoded(conn: Connection, events: Iterable[EncodedEvent]) -> int:
    """Stage many events with COPY, all under the trace context of the current span."""
    if not conn.is_in_transaction():
        raise RuntimeError("enqueue events inside the business transaction")
    trace: dict[str, str] = {}
    inject(trace)
    trace_json = json.dumps(trace)[1:-1]
    records = [_encoded_row(e, trace_json) for e in events]
    if records:
        await conn.copy_records_to_table("outbox", records=records, columns=_COLUMNS)
    return len(records)


def _encoded_row(e: EncodedEvent, trace_json: str) -> tuple[Any, ...]:
    headers = (
        f'{{"content-type":"application/json","event_type":"{e.event_type}",'
        f'"event_id":"{e.event_id}","schema_version":"{e.schema_version}"'
        f"{',' + trace_json if trace_json else ''}}}"
    )
    return (lane_of(e.key), e.event_id, e.topic, e.key, e.value, headers)
