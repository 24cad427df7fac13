"""50 concurrent `POST /v1/invoices/{id}/issue` of one tenant through the gateway (issue 4):
latency p50/p99, and the numbers gapless (the sequence report intact). BENCH_ROUNDS rounds
(default 5) of BENCH_ISSUES (50) drafts each.

Baseline, same run: raw asyncpg, 50 concurrent transactions each taking the next number of
one series row and updating one invoice row: the floor set by the series lock itself.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import asyncpg
import httpx

from bench.schemas import migrate
from bench.services import platform
from bench.stats import summary_ms
from servicekit.testing import Infra, local_infra

ISSUES = int(os.environ.get("BENCH_ISSUES", "50"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
PORT = int(os.environ.get("BENCH_PG_PORT", "55434"))


async def _client(infra: Infra, tenant: uuid.UUID) -> uuid.UUID:
    client_id = uuid.uuid4()
    conn = await asyncpg.connect(infra.admin_dsn())
    try:
        await conn.execute(
            "INSERT INTO invoicing.client_replicas (tenant_id, client_id, version, name, "
            "currency, payment_terms_days, contact_emails, archived, deleted) "
            "VALUES ($1, $2, 1, 'Contended', 'EUR', 30, '{}', false, false)",
            tenant,
            client_id,
        )
    finally:
        await conn.close()
    return client_id


async def run_api(infra: Infra) -> None:
    async with platform(infra) as p:
        client_id = await _client(infra, p.tenant_id)
        limits = httpx.Limits(max_connections=ISSUES)
        async with httpx.AsyncClient(
            base_url=p.gateway, headers=p.auth, timeout=60, limits=limits
        ) as http:
            body = {
                "client_id": str(client_id),
                "include_time": False,
                "lines": [{"description": "Setup", "quantity": "1", "unit_amount_minor": 5000}],
            }
            latencies: list[float] = []
            for _ in range(ROUNDS):
                drafts = [
                    (await http.post("/v1/invoices", json=body)).json()["id"] for _ in range(ISSUES)
                ]

                async def issue(invoice_id: str) -> float:
                    t0 = time.perf_counter()
                    r = await http.post(f"/v1/invoices/{invoice_id}/issue")
                    assert r.status_code == 200, r.text
                    return time.perf_counter() - t0

                t0 = time.perf_counter()
                latencies += await asyncio.gather(*(issue(d) for d in drafts))
                wall = time.perf_counter() - t0
            report = (await http.get("/v1/invoices/sequence-report")).json()
        print(
            f"issue under contention: {ROUNDS} x {ISSUES} concurrent issues, "
            f"last round {ISSUES / wall:.0f} issues/s; latency {summary_ms(latencies)}"
        )
        print(
            f"  series {report['prefix']}-{report['year']}: last_value {report['last_value']}, "
            f"{len(report['documents'])} documents, gaps {report['gaps']}, "
            f"duplicates {report['duplicates']}, intact {report['intact']}"
        )


async def baseline(infra: Infra) -> None:
    pool = await asyncpg.create_pool(infra.admin_dsn(), min_size=ISSUES, max_size=ISSUES)
    assert pool is not None
    try:
        async with pool.acquire() as conn:
            await conn.execute(
                "CREATE UNLOGGED TABLE IF NOT EXISTS public.bench_series (k int PRIMARY KEY, "
                "v int NOT NULL); INSERT INTO public.bench_series VALUES (1, 0) "
                "ON CONFLICT DO NOTHING; CREATE UNLOGGED TABLE IF NOT EXISTS "
                "public.bench_docs (id int PRIMARY KEY, n int)"
            )
        counter = iter(range(10**9))

        async def one() -> float:
            doc = next(counter)
            t0 = time.perf_counter()
            async with pool.acquire() as conn, conn.transaction():
                n = await conn.fetchval(
                    "UPDATE public.bench_series SET v = v + 1 WHERE k = 1 RETURNING v"
                )
                await conn.execute("INSERT INTO public.bench_docs VALUES ($1, $2)", doc, n)
            return time.perf_counter() - t0

        latencies: list[float] = []
        for _ in range(ROUNDS):
            latencies += await asyncio.gather(*(one() for _ in range(ISSUES)))
        print(f"  baseline raw asyncpg numbering transactions: latency {summary_ms(latencies)}")
    finally:
        await pool.close()


async def _main(infra: Infra) -> None:
    await migrate(infra, ("timecapture", "invoicing"))
    await run_api(infra)
    await baseline(infra)


def main() -> None:
    with local_infra(PORT, "billstream_bench") as infra:
        asyncio.run(_main(infra))
