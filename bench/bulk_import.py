"""Bulk import of 1,000,000 rows through the gateway (PERFORMANCE.md targets: >= 50,000 rows/s
durable including validation and outbox rows; >= 20,000 entries/s end to end into invoicing's
ledger), with the raw COPY and Kafka rates measured in the same run.

The rows are split into CSV files of 50,000 (the gateway's 10 MB body limit), each for its own
group of members, posted two at a time. Durable = every import request answered 200.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

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


async def run(infra: Infra) -> None:
    copy_rate = await raw_copy_rate(infra)
    kafka_rate = await raw_kafka_rate(infra)
    async with platform(infra, {"GATEWAY_UPSTREAM_TIMEOUT_S": "120"}) as p:
        members = max(MEMBERS_PER_CHUNK, (ROWS // CHUNK + 1) * MEMBERS_PER_CHUNK)
        catalog = await seed(p, members=members, projects=50)
        chunks = csv_chunks(catalog, ROWS, CHUNK)
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
        f"baseline aiokafka produce->consume: {kafka_rate:,.0f} msgs/s; ratio e2e/kafka: "
        f"{seen / end_to_end / kafka_rate:.2f}"
    )


def main() -> None:
    logging.disable(logging.WARNING)
    with local_infra(PORT, "billstream_bench") as infra:
        asyncio.run(run(infra))
