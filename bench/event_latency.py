"""Outbox commit -> consumer transaction latency at a fixed rate (PERFORMANCE.md target:
p50 <= 10 ms, p99 <= 50 ms at 1,000 events/s), with raw baselines measured in the same run:
asyncpg business row + outbox row per transaction, and aiokafka produce -> consume.

Both ends are commit timestamps (`track_commit_timestamp`, on for benchmarks): the writer's
transaction, read from its time-entry row, and invoicing's consumer transaction, read from
its inbox row; one clock, the database's. Postgres stamps a commit just before its WAL flush,
so the consumer's flush is not counted (the writer's is: the relay sees rows after it).
Figures before stop 13 ended at a time inside the consumer's transaction instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench import pg_statements
from bench.schemas import migrate
from bench.stats import open_loop, summary_ms
from servicekit.db import tenant_transaction
from servicekit.localinfra.catalog import by_name
from servicekit.localinfra.stack import Credentials, service_env
from servicekit.outbox import enqueue
from servicekit.sealing import new_key
from servicekit.testing import Infra, local_infra
from timecapture.db import time_entries as rows
from timecapture.domain.time_entries import (
    LogTimeEntry,
    MemberFacts,
    ProjectFacts,
    new_time_entry,
)
from timecapture.messaging.outgoing import time_entry_event

RATE = float(os.environ.get("BENCH_RATE", "1000"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
PORT = int(os.environ.get("BENCH_PG_PORT", "55434"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def raw_outbox_tx_rate(infra: Infra, seconds: float = 3.0, clients: int = 16) -> float:
    """Baseline: one business row + one outbox-shaped row per transaction, closed loop."""
    pool = await asyncpg.create_pool(infra.dsn("analytics"), min_size=clients, max_size=clients)
    await pool.execute(
        "CREATE TABLE IF NOT EXISTS bench_rows (id uuid PRIMARY KEY, body text);"
        "CREATE TABLE IF NOT EXISTS bench_outbox (id bigserial PRIMARY KEY, body bytea)"
    )
    done = 0
    stop = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("INSERT INTO bench_rows VALUES ($1, 'x')", uuid.uuid4())
                await conn.execute("INSERT INTO bench_outbox (body) VALUES ($1)", b"x" * 400)
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - start
    await pool.close()
    return done / elapsed


async def raw_kafka_rate(infra: Infra, count: int = 20_000) -> float:
    """Baseline: produce (batched, acks=all, idempotent) and consume `count` messages."""
    topic = "time-entry-logged.dlq"  # exists everywhere; the bench reads only its own keys
    marker = uuid.uuid4().hex.encode()
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.kafka.bootstrap_servers, enable_idempotence=True, linger_ms=5
    )
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=infra.kafka.bootstrap_servers,
        group_id=None,
        auto_offset_reset="earliest",
    )
    await producer.start()
    await consumer.start()
    start = time.perf_counter()
    seen = 0

    async def consume() -> None:
        nonlocal seen
        while seen < count:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            seen += sum(1 for rs in batch.values() for r in rs if r.key == marker)

    # Round-robin over the partitions: the local broker keeps ~5 MiB of each, and 8 MB on one
    # partition lost its oldest records whenever the reader fell behind (the wait timed out).
    partitions = sorted(await producer.partitions_for(topic))
    reader = asyncio.create_task(consume())
    futures = [
        await producer.send(
            topic, b"x" * 400, key=marker, partition=partitions[i % len(partitions)]
        )
        for i in range(count)
    ]
    await asyncio.gather(*futures)
    await asyncio.wait_for(reader, 60)
    elapsed = time.perf_counter() - start
    await producer.stop()
    await consumer.stop()
    return count / elapsed


@contextlib.contextmanager
def service_processes(infra: Infra, names: list[str]) -> Iterator[None]:
    """The services as their own processes, configured the way `make run` does it."""
    creds = Credentials(
        "unused", str(uuid.uuid4()), "unused", infra.private_key, infra.public_key, new_key()
    )
    procs = []
    try:
        for name in names:
            svc = by_name(name)
            env = {
                **os.environ,
                **service_env(
                    svc,
                    cluster=infra.cluster,
                    database=infra.database,
                    kafka=infra.kafka.bootstrap_servers,
                    creds=creds,
                ),
                f"{svc.env_prefix}HTTP_PORT": str(free_port()),
                f"{svc.env_prefix}LOG_LEVEL": "WARNING",
            }
            procs.append(
                subprocess.Popen([sys.executable, "-m", name], env=env, stderr=subprocess.DEVNULL)
            )
        yield
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


async def applied_at(infra: Infra, event_ids: list[uuid.UUID]) -> dict[uuid.UUID, float]:
    """When invoicing's consumer committed each event (waits up to 2 minutes for them all)."""
    conn = await asyncpg.connect(infra.admin_dsn())
    try:
        deadline = time.monotonic() + 120
        while True:
            got = await conn.fetch(
                "SELECT event_id, extract(epoch FROM pg_xact_commit_timestamp(xmin)) AS at "
                "FROM invoicing.inbox "
                "WHERE consumer = 'invoicing.time-entry-logged' AND event_id = ANY($1::uuid[])",
                event_ids,
            )
            if len(got) == len(event_ids) or time.monotonic() > deadline:
                return {r["event_id"]: float(r["at"]) for r in got}
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def written_at(infra: Infra, entries: dict[uuid.UUID, uuid.UUID]) -> dict[uuid.UUID, float]:
    """When each event's writer committed, from its time entry (event id -> entry id)."""
    conn = await asyncpg.connect(infra.admin_dsn())
    try:
        got = await conn.fetch(
            "SELECT id, extract(epoch FROM pg_xact_commit_timestamp(xmin)) AS at "
            "FROM timecapture.time_entries WHERE id = ANY($1::uuid[])",
            list(entries.values()),
        )
    finally:
        await conn.close()
    at = {r["id"]: float(r["at"]) for r in got}
    return {event_id: at[entry_id] for event_id, entry_id in entries.items()}


PROJECT = ProjectFacts(
    archived=False,
    client_id=uuid.UUID(int=0),
    client_archived=False,
    currency="EUR",
    billable_by_default=True,
    manager_ids=(),
)
MEMBER = MemberFacts(archived=False, cost_rate_minor=None, cost_currency=None)


async def seed_catalog(pool: asyncpg.Pool, tenant: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    """A client, a project and a member for the tenant (time entries reference them)."""
    client_id, project_id, member_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with tenant_transaction(pool, tenant) as conn:
        await conn.execute(
            "INSERT INTO clients (tenant_id, id, name, currency, payment_terms_days, created_at,"
            " updated_at) VALUES ($1, $2, 'Bench client', 'EUR', 30, now(), now())",
            tenant,
            client_id,
        )
        await conn.execute(
            "INSERT INTO projects (tenant_id, id, client_id, name, created_at, updated_at)"
            " VALUES ($1, $2, $3, 'Bench project', now(), now())",
            tenant,
            project_id,
            client_id,
        )
        await conn.execute(
            "INSERT INTO members (tenant_id, id, name, email, role, created_at, updated_at)"
            " VALUES ($1, $2, 'Bench member', 'bench@example.com', 'member', now(), now())",
            tenant,
            member_id,
        )
    return member_id, project_id


async def outbox_to_consumer(infra: Infra) -> float:
    """Writes entry + outbox rows at a fixed rate from this process; timecapture's relay and
    invoicing's consumer run as their own processes, as in production."""
    await pg_statements.require_commit_timestamps(infra)
    tenant = uuid.uuid4()
    count = int(RATE * SECONDS)
    entries: dict[uuid.UUID, uuid.UUID] = {}  # event id -> the entry it carries
    pool = await asyncpg.create_pool(infra.dsn("timecapture"), min_size=8, max_size=8)
    assert pool is not None
    start = datetime.now(UTC) - timedelta(days=30)
    member_id, project_id = await seed_catalog(pool, tenant)

    async def write(i: int) -> None:
        now = datetime.now(UTC)
        entry = new_time_entry(
            LogTimeEntry(
                member_id=member_id,
                project_id=project_id,
                # Entries of one member never overlap: each starts after the last ended.
                started_at=start + timedelta(minutes=i),
                duration=timedelta(seconds=50),
            ),
            entry_id=uuid.uuid4(),
            tenant_id=tenant,
            now=now,
            project=PROJECT,
            member=MEMBER,
        )
        event = time_entry_event("time_entry.logged", entry, event_id=uuid.uuid4(), occurred_at=now)
        async with tenant_transaction(pool, tenant) as conn:
            await rows.insert(conn, entry)
            await enqueue(conn, event)
        entries[event.event_id] = entry.id

    # Warm-up: migrations, connections, the consumer group's first join.
    await open_loop(RATE, int(RATE), write)
    await applied_at(infra, list(entries))
    entries.clear()
    achieved = await open_loop(RATE, count, write)
    await pool.close()
    applied = await applied_at(infra, list(entries))
    commits = await written_at(infra, entries)
    latencies = [at - commits[event_id] for event_id, at in applied.items()]
    print(f"events written: {count} at target {RATE:.0f}/s, achieved {achieved:.0f}/s")
    print(f"events applied by invoicing: {len(applied)} (missing {count - len(applied)})")
    print(f"outbox commit -> consumer commit: {summary_ms(latencies)}")
    return achieved


def main() -> None:
    logging.disable(logging.WARNING)
    with local_infra(PORT, "billstream_bench") as infra:

        async def run() -> None:
            with service_processes(infra, ["timecapture", "invoicing"]):
                # Schemas first: the writer starts before the services finish booting.
                await migrate(infra)
                achieved = await outbox_to_consumer(infra)
            raw_tx = await raw_outbox_tx_rate(infra)
            raw_kafka = await raw_kafka_rate(infra)
            print(f"baseline asyncpg row+outbox tx (16 clients): {raw_tx:.0f} tx/s")
            print(f"baseline aiokafka produce->consume: {raw_kafka:.0f} msgs/s")
            print(
                f"ratio achieved/raw tx: {achieved / raw_tx:.2f}; "
                f"achieved/raw kafka: {achieved / raw_kafka:.2f}"
            )

        asyncio.run(run())
