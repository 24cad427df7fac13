"""Bulk import of 1,000,000 rows through the gateway (PERFORMANCE.md targets: >= 50,000 rows/s
durable including validation and outbox rows; >= 20,000 entries/s end to end into invoicing's
ledger), with the raw COPY and Kafka rates measured in the same run, and a set-based ceiling:
the same files written by Postgres alone.

The rows are split into CSV files of 50,000 (the gateway's 10 MB body limit), each for its own
group of members, posted two at a time. Durable = every import request answered 200.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from bench import pg_statements
from bench.event_latency import raw_kafka_rate
from bench.http_load import Pool
from bench.services import Catalog, ledger_count, platform, seed
from servicekit.testing import Infra, local_infra

ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "1000000"))
CHUNK = int(os.environ.get("BENCH_IMPORT_CHUNK", "50000"))
CONCURRENCY = int(os.environ.get("BENCH_IMPORT_CONCURRENCY", "2"))
PORT = int(os.environ.get("BENCH_PG_PORT", "55434"))
MEMBERS_PER_CHUNK = 10
STALL_S = 15.0


def csv_chunks(catalog: Catalog, rows: int, chunk: int) -> list[bytes]:
    """Each chunk's rows belong to its own members; one member's rows never overlap."""
    base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=400)
    chunks = []
    for c in range(0, rows, chunk):
        size = min(chunk, rows - c)
        group = (c // chunk) * MEMBERS_PER_CHUNK
        lines = ["email,project_code,start_date,start_time,duration,billable,description,tags"]
        for i in range(size):
            email = catalog.emails[(group + i % MEMBERS_PER_CHUNK) % len(catalog.emails)]
            start = base + timedelta(minutes=2 * (i // MEMBERS_PER_CHUNK))
            code = catalog.codes[i % len(catalog.codes)]
            lines.append(
                f"{email},{code},{start.date()},{start.time()},0:01,yes,bulk row {i},bench"
            )
        chunks.append(("\r\n".join(lines) + "\r\n").encode())
    return chunks


async def raw_copy_rate(infra: Infra, rows: int = 200_000) -> float:
    """Baseline: asyncpg COPY of entry-shaped rows into a table with a primary key."""
    conn = await asyncpg.connect(infra.dsn("analytics"))
    await conn.execute(
        "DROP TABLE IF EXISTS bench_copy; CREATE TABLE bench_copy (id uuid PRIMARY KEY,"
        " member uuid, project uuid, started_at timestamptz, ended_at timestamptz,"
        " description text, tags text[])"
    )
    now = datetime.now(UTC)
    member, project = uuid.uuid4(), uuid.uuid4()
    records = [
        (uuid.uuid4(), member, project, now, now, "bulk row", ["bench"]) for _ in range(rows)
    ]
    start = time.perf_counter()
    await conn.copy_records_to_table("bench_copy", records=records)
    elapsed = time.perf_counter() - start
    await conn.close()
    return rows / elapsed


# The bench's own files, resolved and written with their outbox rows by SQL alone, into twins
# of timecapture's tables (indexes included, row-level security not): no check of any field,
# no overlap search, no budget, no outbox headers, one lane. A lower bound of what an import
# writing these rows costs Postgres on this machine (its CSV casts and JSON are done there).
_TWINS = """
DROP TABLE IF EXISTS bench_entries, bench_outbox;
CREATE TABLE bench_entries (LIKE timecapture.time_entries INCLUDING ALL);
CREATE TABLE bench_outbox (LIKE timecapture.outbox INCLUDING ALL)
"""
# Ids as the service's `uuid7_texts` makes an import's: one millisecond prefix (the
# transaction's time), random after it. Wholly random ones scattered every index insert
# (13-18k rows/s), one per row's own clock reading were near sequential (26-33k).
_UUID7 = """CREATE OR REPLACE FUNCTION pg_temp.uuid7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
  SELECT encode(overlay(uuid_send(gen_random_uuid()) PLACING
    substring(int8send((extract(epoch FROM now()) * 1000)::bigint) FROM 3)
    FROM 1 FOR 6), 'hex')::uuid
$$"""
_STAGING = """
CREATE TEMPORARY TABLE staging (email text, project_code text, start_date text,
  start_time text, duration text, billable text, description text, tags text) ON COMMIT DROP
"""
_WRITE = """
WITH entries AS (
  INSERT INTO bench_entries (tenant_id, id, member_id, project_id, description, started_at,
    ended_at, billable, tags, version, created_at, updated_at)
  SELECT m.tenant_id, pg_temp.uuid7(), m.id, p.id, s.description, t.started_at,
    t.started_at + s.duration::interval, s.billable = 'yes', string_to_array(s.tags, ','), 1,
    now(), now()
  FROM staging s
  JOIN timecapture.members m ON m.tenant_id = $1 AND lower(m.email) = s.email
  JOIN timecapture.projects p ON p.tenant_id = $1 AND p.code = s.project_code
  CROSS JOIN LATERAL (SELECT ((s.start_date || ' ' || s.start_time)::timestamp
    AT TIME ZONE 'UTC') AS started_at) t
  RETURNING *
)
INSERT INTO bench_outbox (lane, event_id, topic, key, value)
SELECT 0, ev.id, 'time-entry-logged', convert_to(entries.id::text, 'UTF8'), convert_to(
  '{"event_id":"' || ev.id || '","event_type":"time_entry.logged","schema_version":1,'
  || '"occurred_at":' || to_json(now()) || ',"tenant_id":"' || tenant_id
  || '","producer":"timecapture","correlation_id":null,"causation_id":null,"payload":{"entry_id":"'
  || entries.id || '","version":1,"member_id":"' || member_id
  || '","project_id":"' || project_id || '","task":null,"description":'
  || to_json(description) || ',"started_at":' || to_json(started_at) || ',"ended_at":'
  || to_json(ended_at) || ',"duration_seconds":' || extract(epoch FROM ended_at - started_at)
  || ',"billable":' || billable || ',"tags":' || to_json(tags) || '}}', 'UTF8')
-- Naming a column of the row makes the subquery run per row, not once.
FROM entries CROSS JOIN LATERAL (SELECT pg_temp.uuid7() AS id, entries.id AS entry) ev
"""


async def set_based_rate(infra: Infra, tenant: uuid.UUID, files: list[bytes]) -> float:
    """Ceiling: `files` written `CONCURRENCY` at a time by `_WRITE`, one transaction each."""
    admin = await asyncpg.connect(infra.admin_dsn())
    await admin.execute(_TWINS)
    conns = [await asyncpg.connect(infra.admin_dsn()) for _ in range(CONCURRENCY)]
    for conn in conns:
        await conn.execute(_UUID7)
    queue = list(files)

    async def writer(conn: asyncpg.Connection) -> None:
        while queue:
            body = queue.pop()
            async with conn.transaction():
                await conn.execute(_STAGING)
                await conn.copy_to_table(
                    "staging", source=io.BytesIO(body), format="csv", header=True
                )
                await conn.execute(_WRITE, tenant)

    try:
        start = time.perf_counter()
        await asyncio.gather(*(writer(c) for c in conns))
        elapsed = time.perf_counter() - start
        written: int = await admin.fetchval("SELECT count(*) FROM bench_outbox")
        expected = sum(body.count(b"\r\n") - 1 for body in files)
        if written != expected:
            raise RuntimeError(f"the set-based ceiling wrote {written} of {expected} rows")
        await admin.execute("DROP TABLE bench_entries, bench_outbox")
        # Its WAL and dirty pages flushed now, not by a checkpoint inside the measured import.
        await admin.execute("CHECKPOINT")
    finally:
        for conn in [admin, *conns]:
            await conn.close()
    return written / elapsed


async def run(infra: Infra) -> None:
    copy_rate = await raw_copy_rate(infra)
    kafka_rate = await raw_kafka_rate(infra)
    async with platform(infra, {"GATEWAY_UPSTREAM_TIMEOUT_S": "120"}) as p:
        members = max(MEMBERS_PER_CHUNK, (ROWS // CHUNK + 1) * MEMBERS_PER_CHUNK)
        catalog = await seed(p, members=members, projects=50)
        chunks = csv_chunks(catalog, ROWS, CHUNK)
        ceiling = await set_based_rate(infra, p.tenant_id, chunks[:4])
        pool = Pool(p.gateway, CONCURRENCY, p.auth)
        await pool.start()
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        for chunk in chunks:
            queue.put_nowait(chunk)
        failures: list[str] = []

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                status, answer = await pool.request(
                    "POST", "/v1/time-entries/import", body, content_type="text/csv"
                )
                if status != 200:
                    failures.append(f"{status} {answer[:300]!r}")

        await pg_statements.reset(infra)
        print(f"  load: {ROWS:,} rows in {len(chunks)} files", flush=True)
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        durable = time.perf_counter() - start
        seen = await ledger_count(infra, p.tenant_id)
        progressed = time.perf_counter()
        # The mock broker keeps ~5 MiB per partition: records a consumer has not fetched by
        # then are gone, and the ledger stops short. A stall ends the wait instead of a timeout.
        while seen < ROWS and time.perf_counter() - progressed < STALL_S:
            await asyncio.sleep(0.5)
            if (now := await ledger_count(infra, p.tenant_id)) > seen:
                seen, progressed = now, time.perf_counter()
        end_to_end = progressed - start
        await pool.close()
    await pg_statements.report(infra, seen, "entry in the ledger")
    print(
        f"rows imported: {ROWS} in {len(chunks)} requests of {CHUNK}, "
        f"{CONCURRENCY} at a time; failed requests: {len(failures)} {failures[:1]}"
    )
    print(
        f"durable (entries + outbox rows committed): {durable:.1f}s = {ROWS / durable:,.0f} rows/s"
    )
    print(
        f"end to end into invoicing's ledger: {seen}/{ROWS} in {end_to_end:.1f}s "
        f"= {seen / end_to_end:,.0f} entries/s"
        + ("" if seen == ROWS else f" (then no progress for {STALL_S:.0f}s)")
    )
    print(
        f"baseline asyncpg COPY: {copy_rate:,.0f} rows/s; ratio durable/COPY: "
        f"{ROWS / durable / copy_rate:.2f}"
    )
    print(
        f"ceiling set-based SQL ({CONCURRENCY} at a time, no checks): {ceiling:,.0f} rows/s; "
        f"ratio durable/ceiling: {ROWS / durable / ceiling:.2f}"
    )
    print(
        f"baseline aiokafka produce->consume: {kafka_rate:,.0f} msgs/s; ratio e2e/kafka: "
        f"{seen / end_to_end / kafka_rate:.2f}"
    )


def main() -> None:
    logging.disable(logging.WARNING)
    with local_infra(PORT, "billstream_bench") as infra:
        asyncio.run(run(infra))
