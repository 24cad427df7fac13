"""Payments through the gateway with Idempotency-Keys at BENCH_RATE (default 200) per second
for BENCH_SECONDS (10): achieved rate, API p50/p99, and payment-to-paid (from the POST's
start to invoicing committing the invoice as paid; issue 5 target: p99 under 100 ms).

The invoices are made first by a billing run over seeded ledger time (as `billing-run`), so
payments learns them from `invoice-issued` like in production. Each payment pays one invoice
in full. Baseline, same run: raw asyncpg inserting a payment row and an outbox row per
transaction from BENCH_RATE-paced tasks.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from datetime import timedelta

import asyncpg
import httpx

from bench import billing_run
from bench.schemas import migrate
from bench.services import platform
from bench.stats import open_loop, summary_ms
from servicekit.testing import Infra, local_infra

RATE = float(os.environ.get("BENCH_RATE", "200"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
PORT = int(os.environ.get("BENCH_PG_PORT", "55434"))


async def _fetch(infra: Infra, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(infra.admin_dsn())
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def run(infra: Infra) -> None:
    count = int(RATE * SECONDS)
    billing_run.CLIENTS = count
    billing_run.ENTRIES = 2
    async with platform(infra) as p:
        await billing_run.seed(infra, p.tenant_id)
        async with httpx.AsyncClient(base_url=p.gateway, headers=p.auth, timeout=60) as http:
            started = await http.post(
                "/v1/billing-runs",
                json={
                    "period_start": str(billing_run.DAY.date()),
                    "period_end": str((billing_run.DAY + timedelta(days=1)).date()),
                    "auto_issue": True,
                },
            )
            status = "running"
            while status != "completed":
                await asyncio.sleep(0.5)
                status = (await http.get(started.headers["Location"])).json()["status"]
        while True:
            [row] = await _fetch(infra, "SELECT count(*) AS n FROM payments.receivables")
            if row["n"] >= count:
                break
            await asyncio.sleep(0.5)
        invoices = await _fetch(
            infra,
            "SELECT invoice_id, total_minor FROM payments.receivables ORDER BY invoice_id",
        )
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
        starts: dict[str, float] = {}
        latencies: list[float] = []
        errors = retries = 0
        async with httpx.AsyncClient(
            base_url=p.gateway, headers=p.auth, timeout=60, limits=limits
        ) as http:

            async def one(i: int) -> None:
                nonlocal errors, retries
                inv = invoices[i]
                t0 = time.perf_counter()
                r: httpx.Response | None = None
                for attempt in range(3):
                    try:
                        r = await http.post(
                            "/v1/payments",
                            json={
                                "invoice_id": str(inv["invoice_id"]),
                                "amount_minor": inv["total_minor"],
                                "currency": "EUR",
                                "method": "bank_transfer",
                            },
                            headers={"Idempotency-Key": f"bench-{inv['invoice_id']}"},
                        )
                        break
                    except httpx.TransportError:
                        # What a client does, and why the key is there: the retry records
                        # nothing twice. Counted, and inside the request's latency.
                        retries += 1
                        await asyncio.sleep(0.05 * (attempt + 1))
                latencies.append(time.perf_counter() - t0)
                if r is None or r.status_code != 201:
                    errors += 1
                    return
                starts[r.json()["id"]] = time.time() - (time.perf_counter() - t0)

            achieved = await open_loop(RATE, count, one)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            recorded = await _fetch(
                infra,
                "SELECT id::text, extract(epoch FROM recorded_at) AS at "
                "FROM invoicing.invoice_payments",
            )
            if len(recorded) >= len(starts):
                break
            await asyncio.sleep(0.5)
        to_paid = [float(r["at"]) - starts[r["id"]] for r in recorded if r["id"] in starts]
        [paid] = await _fetch(
            infra, "SELECT count(*) AS n FROM invoicing.invoices WHERE payment_status = 'paid'"
        )
    print(
        f"payments: {count} at {RATE:.0f}/s offered, {achieved:.0f}/s achieved, "
        f"{errors} errors, {retries} retried; API latency {summary_ms(latencies)}"
    )
    print(
        f"  payment -> invoice paid (invoicing's commit): {summary_ms(to_paid)} over "
        f"{len(to_paid)} payments; {paid['n']} invoices paid (target p99 < 100 ms at 200/s)"
    )
    base = await baseline(infra, count)
    print(
        f"  baseline raw asyncpg payment+outbox inserts: {base:.0f}/s; ratio {achieved / base:.2f}"
    )


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


async def _main(infra: Infra) -> None:
    await migrate(infra, ("timecapture", "invoicing", "payments"))
    await run(infra)


def main() -> None:
    with local_infra(PORT, "billstream_bench") as infra:
        asyncio.run(_main(infra))
