"""Single time entries through the gateway at a fixed arrival rate (PERFORMANCE.md target:
>= 1,500/s sustained, API p99 <= 50 ms, each entry visible in invoicing's ledger).

Baseline in the same run: raw asyncpg, one business row + one outbox row per transaction.
Latency is measured from each request's scheduled start, so a backlog is not hidden.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from datetime import UTC, datetime, timedelta

from bench import pg_statements
from bench.cpu import cpu_seconds
from bench.event_latency import raw_outbox_tx_rate
from bench.http_load import Pool
from bench.services import Catalog, ledger_count, platform, seed
from bench.stats import summary_ms
from servicekit.testing import Infra, local_infra

RATE = float(os.environ.get("BENCH_RATE", "1500"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
PORT = int(os.environ.get("BENCH_PG_PORT", "55434"))
MEMBERS = 200


def bodies(catalog: Catalog, count: int, offset: int) -> list[bytes]:
    """Entries of one minute, each member's two minutes apart: no overlaps, none in the future."""
    base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=60)
    out = []
    for i in range(offset, offset + count):
        member = catalog.member_ids[i % len(catalog.member_ids)]
        start = base + timedelta(minutes=2 * (i // len(catalog.member_ids)))
        out.append(
            json.dumps(
                {
                    "member_id": member,
                    "project_id": catalog.project_ids[i % len(catalog.project_ids)],
                    "started_at": start.isoformat(),
                    "duration_minutes": 1,
                    "description": "bench",
                }
            ).encode()
        )
    return out


async def drive(pool: Pool, payloads: list[bytes], rate: float) -> tuple[float, list[float], int]:
    """Open loop: request i starts at t0 + i/rate. Returns (achieved rate, latencies, errors)."""
    latencies: list[float] = []
    errors = 0

    async def one(scheduled: float, body: bytes) -> None:
        nonlocal errors
        status, _ = await pool.request("POST", "/v1/time-entries", body)
        latencies.append(time.perf_counter() - scheduled)
        if status != 201:
            errors += 1

    tasks = []
    t0 = time.perf_counter()
    for i, body in enumerate(payloads):
        scheduled = t0 + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled, body)))
    await asyncio.gather(*tasks)
    return len(payloads) / (time.perf_counter() - t0), latencies, errors


async def run(infra: Infra) -> None:
    baseline = await raw_outbox_tx_rate(infra)
    async with platform(infra) as p:
        catalog = await seed(p, members=MEMBERS, projects=20)
        pool = Pool(p.gateway, 128, p.auth)
        await pool.start()
        warm = bodies(catalog, int(RATE * 2), 0)
        await drive(pool, warm, RATE)
        count = int(RATE * SECONDS)
        measured = bodies(catalog, count, len(warm))
        await pg_statements.reset(infra)
        print(f"  load: {count} entries at {RATE:.0f}/s", flush=True)
        cpu_before = cpu_seconds(infra)
        achieved, latencies, errors = await drive(pool, measured, RATE)
        cpu = {k: v - cpu_before.get(k, 0.0) for k, v in cpu_seconds(infra).items()}
        sent_at = time.perf_counter()
        expected = len(warm) + count
        seen = await ledger_count(infra, p.tenant_id)
        while seen < expected and time.perf_counter() - sent_at < 120:
            await asyncio.sleep(0.25)
            seen = await ledger_count(infra, p.tenant_id)
        drained = time.perf_counter() - sent_at
        await pool.close()
    print(
        f"entries posted through the gateway: {count} at target {RATE:.0f}/s, "
        f"achieved {achieved:.0f}/s, non-201: {errors}"
    )
    print(f"API latency from scheduled start: {summary_ms(latencies)}")
    print(
        "cpu per entry while posting: "
        + ", ".join(f"{k} {v / count * 1e6:.0f} us" for k, v in sorted(cpu.items()))
    )
    print(
        f"visible in invoicing's ledger: {seen}/{expected}, {drained:.1f}s after the last request"
    )
    await pg_statements.report(infra, count, "entry")
    print(
        f"baseline asyncpg row+outbox tx (16 clients): {baseline:.0f} tx/s; "
        f"ratio achieved/raw: {achieved / baseline:.2f}"
    )


def main() -> None:
    logging.disable(logging.WARNING)
    with local_infra(PORT, "billstream_bench") as infra:
        asyncio.run(run(infra))
