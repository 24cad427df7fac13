"""What `payments-api` and `payments-ceiling` share: payments at a fixed rate, one per
invoice, each paying it in full with an Idempotency-Key; and the path each took, read back
from the commit records of the payer's and the payee's transactions and the records' times."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import asyncpg

from bench.cpu import cpu_seconds
from bench.http_load import Pool
from bench.stats import open_loop, summary_ms
from servicekit.testing import Infra, read_topic

RATE = float(os.environ.get("BENCH_RATE", "200"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
WARM_SECONDS = float(os.environ.get("BENCH_WARM_SECONDS", "2"))
GOAL_P99_MS = 100.0


async def fetch(infra: Infra, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(infra.admin_dsn())
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


@dataclass
class Payer:
    """POSTs `/v1/payments` at `RATE` from `Pool` connections, latency from each request's
    scheduled start (time queued behind a saturated platform counts)."""

    url: str
    headers: Mapping[str, str]
    invoices: Sequence[asyncpg.Record]  # invoice_id, total_minor
    latencies: list[float] = field(default_factory=list)
    # payment id -> wall-clock time of its scheduled start, to meet commit timestamps
    starts: dict[str, float] = field(default_factory=dict)
    errors: int = 0
    retries: int = 0
    pool: Pool | None = None

    async def start(self) -> None:
        """One pool of connections for every phase: the measured one starts on warm ones."""
        self.pool = Pool(self.url, 256, self.headers)
        await self.pool.start()

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    async def phase(self, first: int, count: int) -> float:
        """Pays invoices[first:first + count]; returns the achieved rate."""
        self.latencies.clear()
        self.starts.clear()
        self.errors = self.retries = 0
        pool = self.pool
        assert pool is not None, "start() first"
        t0 = time.perf_counter()

        async def one(i: int) -> None:
            inv = self.invoices[first + i]
            scheduled = t0 + i / RATE
            body = json.dumps(
                {
                    "invoice_id": str(inv["invoice_id"]),
                    "amount_minor": inv["total_minor"],
                    "currency": "EUR",
                    "method": "bank_transfer",
                }
            ).encode()
            key = {"Idempotency-Key": f"bench-{inv['invoice_id']}"}
            answer: tuple[int, bytes] | None = None
            for attempt in range(3):
                try:
                    answer = await pool.request("POST", "/v1/payments", body, headers=key)
                    break
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    # What a client does, and why the key is there: the retry records
                    # nothing twice. Counted, and inside the request's latency.
                    self.retries += 1
                    await asyncio.sleep(0.05 * (attempt + 1))
            self.latencies.append(time.perf_counter() - scheduled)
            if answer is None or answer[0] != 201:
                self.errors += 1
                return
            started = time.time() - (time.perf_counter() - scheduled)
            self.starts[json.loads(answer[1])["id"]] = started

        return await open_loop(RATE, count, one, max_in_flight=pool.size, t0=t0)


async def commit_times(infra: Infra, table: str) -> dict[str, float]:
    """Each row's id -> the commit record of the transaction that wrote it (Postgres stamps
    it just before the WAL flush, so the flush is not counted; commit timestamps are on for
    benchmarks, see pg_statements)."""
    rows = await fetch(
        infra,
        f"SELECT id::text, extract(epoch FROM pg_xact_commit_timestamp(xmin)) AS at FROM {table}",
    )
    return {r["id"]: float(r["at"]) for r in rows}


async def wait_for_rows(infra: Infra, table: str, expected: int, within_s: float = 60) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        [row] = await fetch(infra, f"SELECT count(*) AS n FROM {table}")
        if row["n"] >= expected:
            return
        await asyncio.sleep(0.5)


async def report_path(
    infra: Infra,
    payer: Payer,
    *,
    payments_table: str,
    paid_table: str,
    expected_records: int,
) -> list[float]:
    """Prints payment -> paid and its parts; returns payment -> paid in seconds."""
    paid = await commit_times(infra, paid_table)
    to_paid = [paid[i] - s for i, s in payer.starts.items() if i in paid]
    committed = await commit_times(infra, payments_table)
    # The two halves of it: the POST up to payments' own commit, and the hop from that
    # commit (relay, broker, invoicing's consumer) to invoicing's.
    to_commit = [committed[i] - s for i, s in payer.starts.items() if i in committed]
    hop = [paid[i] - committed[i] for i in payer.starts if i in paid and i in committed]
    # The hop split at the record's timestamp (the producer's, taken as the relay hands
    # the row to it; milliseconds): relay, then broker and invoicing's consumer.
    sent = {
        str(json.loads(r.value)["payload"]["payment_id"]): r.timestamp / 1000
        for r in await read_topic(
            infra.kafka.bootstrap_servers,
            "payment-received",
            lambda _: True,
            expected=expected_records,
            timeout=30,
        )
    }
    relayed = [sent[i] - committed[i] for i in payer.starts if i in sent and i in committed]
    consumed = [paid[i] - sent[i] for i in payer.starts if i in sent and i in paid]
    print(
        f"  payment -> invoice paid (invoicing's commit): {summary_ms(to_paid)} over "
        f"{len(to_paid)} payments (target p99 < {GOAL_P99_MS:.0f} ms at 200/s)"
    )
    print(
        f"    of which POST -> payments' commit {summary_ms(to_commit)}; "
        f"payments' commit -> invoicing's {summary_ms(hop)}"
    )
    print(
        f"    the hop: payments' commit -> record sent {summary_ms(relayed)}; "
        f"record sent -> invoicing's commit {summary_ms(consumed)}"
    )
    return to_paid


def report_cpu(before: dict[str, float], after: dict[str, float], count: int) -> None:
    print(
        "  CPU per payment: "
        + ", ".join(
            f"{name} {(after[name] - before.get(name, 0.0)) * 1000 / count:.2f} ms"
            for name in after
        )
        + f" ({os.cpu_count()} cores)"
    )


__all__ = [
    "GOAL_P99_MS",
    "RATE",
    "SECONDS",
    "WARM_SECONDS",
    "Payer",
    "commit_times",
    "cpu_seconds",
    "fetch",
    "report_cpu",
    "report_path",
    "wait_for_rows",
]
