"""Payments through the gateway with Idempotency-Keys at BENCH_RATE (default 200) per second
for BENCH_SECONDS (10): achieved rate, API p50/p99, and payment-to-paid (from the POST's
start to the commit record of invoicing's transaction marking the invoice paid; issue 5
target: p99 under 100 ms).

The invoices are made first by a billing run over seeded ledger time (as `billing-run`), so
payments learns them from `invoice-issued` like in production. Each payment pays one invoice
in full. BENCH_WARM_SECONDS (2) of payments at the same rate go first, unmeasured: every
pooled connection has prepared its statements and the billing run's writes have settled
(analyzed, and flushed to disk by a CHECKPOINT).
Baselines, same run: raw asyncpg inserting a payment row and an outbox row per transaction
from BENCH_RATE-paced tasks; and the broker hop alone (one record every 5 ms, the relay's
producer settings, the services' fetch wait), the floor of "record sent -> invoicing's commit".
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from datetime import timedelta

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer

from bench import billing_run, pg_statements
from bench.paying import (
    GOAL_P99_MS,
    RATE,
    SECONDS,
    WARM_SECONDS,
    Payer,
    cpu_seconds,
    fetch,
    report_cpu,
    report_path,
    wait_for_rows,
)
from bench.schemas import migrate
from bench.services import platform
from bench.stats import percentile, summary_ms
from servicekit.consumer import ConsumerPolicy
from servicekit.relay import new_producer
from servicekit.testing import Infra, local_infra

REPEAT = int(os.environ.get("BENCH_REPEAT", "1"))
PORT = int(os.environ.get("BENCH_PG_PORT", "55434"))


async def run(infra: Infra) -> tuple[float, float]:
    """One measured run; (payment -> paid p99, API p99) in seconds."""
    count = int(RATE * SECONDS)
    warm = int(RATE * WARM_SECONDS)
    async with platform(infra) as p:
        await billing_run.seed(infra, p.tenant_id, clients=warm + count, per_client=2)
        async with httpx.AsyncClient(base_url=p.gateway, headers=p.auth, timeout=60) as http:
            started = await http.post(
                "/v1/billing-runs",
                json={
                    "period_start": str(billing_run.DAY.date()),
                    "period_end": str((billing_run.DAY + timedelta(days=1)).date()),
                    "auto_issue": True,
                },
            )
            assert started.status_code == 202, started.text
            deadline = time.monotonic() + 600
            status = "running"
            while status != "completed":
                if time.monotonic() > deadline:
                    raise RuntimeError("the billing run did not complete in 10 minutes")
                await asyncio.sleep(0.5)
                status = (await http.get(started.headers["Location"])).json()["status"]
        while True:
            [row] = await fetch(infra, "SELECT count(*) AS n FROM payments.receivables")
            if row["n"] >= warm + count:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"payments knows {row['n']} of {warm + count} invoices after 10 min"
                )
            await asyncio.sleep(0.5)
        # The statistics autovacuum keeps (it analyzes a minute or so after a bulk write):
        # planned on an empty table's, a lookup of a few invoices by id scans the tenant's
        # every invoice (auto_explain: 2.4 ms per consumer batch at 1,600 invoices).
        await fetch(infra, "ANALYZE")
        # The setup's writes, flushed now rather than in the measured window: the kernel
        # writes dirty pages back 30 s after they were dirtied (vm.dirty_expire_centisecs),
        # and that burst of the billing run's pages stalled every WAL flush behind it
        # (COMMITs of 32-40 ms, in step with 66 MB written at once in /proc/diskstats).
        await fetch(infra, "CHECKPOINT")
        invoices = await fetch(
            infra,
            "SELECT invoice_id, total_minor FROM payments.receivables ORDER BY invoice_id",
        )
        payer = Payer(p.gateway, p.auth, invoices)
        await payer.start()
        try:
            await payer.phase(0, warm)
            if payer.errors:
                raise RuntimeError(f"{payer.errors} of {warm} warm-up payments failed")
            await pg_statements.reset(infra)
            print(f"  load: {count} payments at {RATE:.0f}/s", flush=True)
            cpu_before = cpu_seconds(infra)
            achieved = await payer.phase(warm, count)
        finally:
            await payer.close()
        await wait_for_rows(infra, "invoicing.invoice_payments", warm + len(payer.starts))
        cpu_after = cpu_seconds(infra)
        print(
            f"payments: {count} at {RATE:.0f}/s offered after {warm} to warm up, "
            f"{achieved:.0f}/s achieved, {payer.errors} errors, {payer.retries} retried; "
            f"API latency {summary_ms(payer.latencies)}"
        )
        to_paid = await report_path(
            infra,
            payer,
            payments_table="payments.payments",
            paid_table="invoicing.invoice_payments",
            expected_records=warm + count,
        )
        [paid] = await fetch(
            infra, "SELECT count(*) AS n FROM invoicing.invoices WHERE payment_status = 'paid'"
        )
        print(f"    {int(paid['n']) - warm} invoices paid")
    report_cpu(cpu_before, cpu_after, count)
    await pg_statements.report(infra, count, "payment")
    base = await baseline(infra, count)
    print(
        f"  baseline raw asyncpg payment+outbox inserts: {base:.0f}/s; ratio {achieved / base:.2f}"
    )
    print(
        f"  baseline raw broker hop (relay's producer, services' fetch wait, nothing else "
        f"running): {summary_ms(await raw_hop(infra))}"
    )
    return percentile(to_paid, 99), percentile(payer.latencies, 99)


async def raw_hop(infra: Infra, count: int = 400) -> list[float]:
    """Baseline of the hop: one record at a time, 5 ms apart, sent as the relay sends (its
    producer, one batch per record) and read by a consumer fetching as the services do (no
    group, their `fetch_max_wait_ms`); seconds from the append to `getmany` returning it."""
    servers = infra.kafka.bootstrap_servers
    topic = "payment-received.dlq"  # exists everywhere; read from the end, so only these
    producer = new_producer(servers, "bench-hop")
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=servers,
        group_id=None,
        auto_offset_reset="latest",
        fetch_max_wait_ms=ConsumerPolicy().fetch_max_wait_ms,
    )
    await producer.start()
    await consumer.start()
    hops: list[float] = []
    try:
        await consumer.seek_to_end()
        partitions = sorted(await producer.partitions_for(topic))

        async def read() -> None:
            while len(hops) < count:
                got = await consumer.getmany(timeout_ms=200)
                now = time.time()
                hops.extend(now - float(r.value) for rs in got.values() for r in rs)

        reader = asyncio.create_task(read())
        for i in range(count):
            batch = producer.create_batch()
            batch.append(key=b"hop", value=repr(time.time()).encode(), timestamp=None)
            await producer.send_batch(batch, topic, partition=partitions[i % len(partitions)])
            await asyncio.sleep(0.005)
        await asyncio.wait_for(reader, 30)
    finally:
        await producer.stop()
        await consumer.stop()
    return hops


async def baseline(infra: Infra, count: int) -> float:
    pool = await asyncpg.create_pool(infra.admin_dsn(), min_size=8, max_size=8)
    assert pool is not None
    try:
        async with pool.acquire() as conn:
            for table in ("payments", "outbox"):
                await conn.execute(
                    f"CREATE UNLOGGED TABLE IF NOT EXISTS public.bench_pay_{table} "
                    f"(LIKE payments.{table} INCLUDING DEFAULTS)"
                )
        gate = asyncio.Semaphore(8)

        async def one(_: int) -> None:
            async with gate, pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "INSERT INTO public.bench_pay_payments (tenant_id, id, invoice_id, client_id, "
                    "currency, amount_minor, applied_minor, to_credit_minor, method, excess, "
                    "received_at, status, version, created_at, updated_at) VALUES ($1, $2, $3, "
                    "$4, 'EUR', 100, 100, 0, 'card', 'reject', now(), 'succeeded', 1, now(), "
                    "now())",
                    uuid.uuid4(),
                    uuid.uuid4(),
                    uuid.uuid4(),
                    uuid.uuid4(),
                )
                await conn.execute(
                    "INSERT INTO public.bench_pay_outbox (lane, event_id, topic, key, value) "
                    "VALUES (0, $1, 'payment-received', 'k', $2)",
                    uuid.uuid4(),
                    b"x" * 600,
                )

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        return count / (time.perf_counter() - t0)
    finally:
        await pool.close()


async def _main(infra: Infra) -> tuple[float, float]:
    await pg_statements.require_commit_timestamps(infra)
    await migrate(infra, ("timecapture", "invoicing", "payments"))
    return await run(infra)


def main() -> None:
    """`BENCH_REPEAT` runs, each on a fresh cluster: on a shared two-core VM one run's p99
    says little (the same code gave 204-1,258 ms in one session), so compare medians."""
    results = []
    for n in range(REPEAT):
        if REPEAT > 1:
            print(f"  run {n + 1} of {REPEAT}", flush=True)
        with local_infra(PORT, "billstream_bench") as infra:
            results.append(asyncio.run(_main(infra)))
    if REPEAT > 1:
        paid = sorted(r[0] * 1000 for r in results)
        api = sorted(r[1] * 1000 for r in results)
        met = sum(p < GOAL_P99_MS for p in paid)
        print(
            f"  over {REPEAT} runs: payment -> paid p99 median {statistics.median(paid):.1f} ms "
            f"({paid[0]:.1f}-{paid[-1]:.1f}), under {GOAL_P99_MS:.0f} ms in {met}; "
            f"API p99 median {statistics.median(api):.1f} ms"
        )
