"""A billing run over BENCH_CLIENTS (default 10,000) clients with BENCH_ENTRIES (50) unbilled
entries each, drafted into 20-line invoices (entries grouped by 20 tasks) and issued, with
every `invoice.issued` event published (issue 4 target: >= 200 invoices/s, memory flat).

The ledger and the client and project replicas are seeded with COPY as the database owner
(what the consumers would have built from events); the platform then runs as `make run`
starts it, and the run is started through the gateway with `auto_issue`. The clock stops when
the run is completed and invoicing's outbox is empty (every event on the broker). Memory is
the invoicing process's resident set, sampled every 0.2 s: at the start and at its peak.

Baseline, same database and run: raw asyncpg writing the same rows per invoice (1 invoice,
20 lines, 50 entry rows, 1 outbox row) in one transaction each, to unindexed temp copies of
the tables, from BENCH_CONCURRENCY connections.
Knobs: BENCH_CONCURRENCY (clients drafted at once, default 8), BENCH_PG_PORT.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

from bench import pg_statements
from bench.cpu import cpu_seconds
from bench.schemas import migrate
from bench.services import platform
from servicekit.testing import Infra, local_infra

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "10000"))
ENTRIES = int(os.environ.get("BENCH_ENTRIES", "50"))
TASKS = 20
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "8"))
PORT = int(os.environ.get("BENCH_PG_PORT", "55434"))
BASELINE_INVOICES = 1_000
DAY = datetime(2026, 10, 5, 8, tzinfo=UTC)


async def seed(
    infra: Infra, tenant: uuid.UUID, clients: int = CLIENTS, per_client: int = ENTRIES
) -> None:
    conn = await asyncpg.connect(infra.admin_dsn())
    try:
        client_ids = [uuid.uuid4() for _ in range(clients)]
        projects = [uuid.uuid4() for _ in range(clients)]
        await conn.copy_records_to_table(
            "client_replicas",
            schema_name="invoicing",
            columns=[
                "tenant_id", "client_id", "version", "name", "currency", "payment_terms_days",
                "contact_emails", "archived", "deleted",
            ],
            records=[
                (tenant, c, 1, f"Client {i}", "EUR", 30, [], False, False)
                for i, c in enumerate(client_ids)
            ],
        )  # fmt: skip
        await conn.copy_records_to_table(
            "project_replicas",
            schema_name="invoicing",
            columns=[
                "tenant_id", "project_id", "version", "client_id", "name",
                "rounding_increment_minutes", "rounding_mode", "archived", "deleted",
            ],
            records=[
                (tenant, p, 1, c, f"Project {i}", 15, "up", False, False)
                for i, (c, p) in enumerate(zip(client_ids, projects, strict=True))
            ],
        )  # fmt: skip

        def entries() -> object:
            member = uuid.uuid4()
            for project in projects:
                for n in range(per_client):
                    start = DAY + timedelta(hours=n)
                    yield (
                        tenant, uuid.uuid4(), 1, member, project, f"task {n % TASKS}", "work",
                        start, start + timedelta(minutes=50), 3000, True, [], False,
                        uuid.uuid4(),
                    )  # fmt: skip

        await conn.copy_records_to_table(
            "ledger_entries",
            schema_name="invoicing",
            columns=[
                "tenant_id", "entry_id", "version", "member_id", "project_id", "task",
                "description", "started_at", "ended_at", "duration_seconds", "billable", "tags",
                "deleted", "source_event_id",
            ],
            records=entries(),  # type: ignore[arg-type]
        )  # fmt: skip
        await conn.execute(
            "INSERT INTO invoicing.rate_rules (tenant_id, id, kind, currency, amount_minor, "
            "hours_per_day, effective_from, description, version, created_at, updated_at) "
            "VALUES ($1, $2, 'hourly', 'EUR', 12000, 8, '2020-01-01', '', 1, now(), now())",
            tenant,
            uuid.uuid4(),
        )
        await conn.execute("ANALYZE invoicing.ledger_entries")
        # Earlier versions of this bench set it with ALTER SYSTEM, which outlived their run
        # (every later run on the cluster logged its statements); BENCH_LOG_SLOW_MS now sets
        # it for one start of the cluster only (bench/pg_statements.py).
        await conn.execute("ALTER SYSTEM RESET log_min_duration_statement")
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()


def _pid_of(module: str) -> int | None:
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"-m" in argv and module.encode() in argv:
            return int(proc.name)
    return None


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _outbox_rows(infra: Infra) -> int:
    conn = await asyncpg.connect(infra.admin_dsn())
    try:
        return int(await conn.fetchval("SELECT count(*) FROM invoicing.outbox"))
    finally:
        await conn.close()


async def run_billing(infra: Infra) -> None:
    env = {
        "INVOICING_BILLING_RUN_CONCURRENCY": str(CONCURRENCY),
        "INVOICING_DB_POOL_MAX_SIZE": str(CONCURRENCY + 4),
    }
    async with platform(infra, env) as p:
        await seed(infra, p.tenant_id)
        pid = _pid_of("invoicing")
        assert pid is not None
        rss_start = _rss_mib(pid)
        rss_peak = rss_start
        async with httpx.AsyncClient(base_url=p.gateway, headers=p.auth, timeout=60) as http:
            await pg_statements.reset(infra)
            cpu_before = cpu_seconds(infra)
            t0 = time.perf_counter()
            started = await http.post(
                "/v1/billing-runs",
                json={
                    "period_start": str(DAY.date()),
                    "period_end": str((DAY + timedelta(days=3)).date()),
                    "group_by": "task",
                    "auto_issue": True,
                },
            )
            assert started.status_code == 202, started.text
            location = started.headers["Location"]
            while True:
                await asyncio.sleep(0.5)
                rss_peak = max(rss_peak, _rss_mib(pid))
                run = (await http.get(location)).json()
                if run["status"] == "completed":
                    break
            drafted_s = time.perf_counter() - t0
            while await _outbox_rows(infra) > 0:
                rss_peak = max(rss_peak, _rss_mib(pid))
                await asyncio.sleep(0.1)
            published_s = time.perf_counter() - t0
            cpu_after = cpu_seconds(infra)
            sample = (
                await http.get("/v1/invoices", params={"billing_run_id": run["id"], "limit": 1})
            ).json()["items"][0]
            detail = (await http.get(f"/v1/invoices/{sample['id']}")).json()
        [totals] = run["totals"]
        invoices = totals["issued"]
        print(
            f"billing run: {invoices} invoices issued of {CLIENTS} clients "
            f"({CLIENTS * ENTRIES:,} entries, {len(detail['lines'])} lines each), "
            f"failures {len(run['failures'])}"
        )
        print(
            f"  drafted+issued in {drafted_s:.1f} s = {invoices / drafted_s:.0f} invoices/s; "
            f"all events published after {published_s:.1f} s = "
            f"{invoices / published_s:.0f} invoices/s (target >= 200/s)"
        )
        print(
            f"  invoicing RSS: {rss_start:.0f} MiB at start, {rss_peak:.0f} MiB peak "
            f"(+{rss_peak - rss_start:.0f} MiB)"
        )
        used = {
            name: (cpu_after[name] - cpu_before.get(name, 0.0)) * 1000 / invoices
            for name in cpu_after
        }
        print(
            "  CPU per invoice: "
            + ", ".join(f"{name} {ms:.1f} ms" for name, ms in used.items())
            + f" ({os.cpu_count()} cores)"
        )
        return_rate = invoices / published_s
        await pg_statements.report(infra, invoices, "invoice")
    base = await baseline(infra)
    print(
        f"  baseline raw asyncpg, same rows per invoice: {base:.0f} invoices/s; "
        f"ratio {return_rate / base:.2f}"
    )


async def baseline(infra: Infra) -> float:
    pool = await asyncpg.create_pool(infra.admin_dsn(), min_size=CONCURRENCY, max_size=CONCURRENCY)
    assert pool is not None
    try:
        async with pool.acquire() as conn:
            for table in ("invoices", "invoice_lines", "invoice_entries", "outbox"):
                await conn.execute(
                    f"CREATE UNLOGGED TABLE IF NOT EXISTS public.bench_{table} "
                    f"(LIKE invoicing.{table} INCLUDING DEFAULTS)"
                )
        tenant = uuid.uuid4()
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(i: int) -> None:
            invoice = uuid.uuid4()
            async with gate, pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "INSERT INTO public.bench_invoices (tenant_id, id, client_id, currency, "
                    "status, payment_status, collection_status, group_by, tax_rounding, "
                    "payment_terms_days, subtotal_minor, discount_minor, tax_minor, "
                    "total_minor, client_snapshot, version, created_at, updated_at) VALUES "
                    "($1, $2, $3, 'EUR', 'issued', 'unpaid', 'current', 'task', "
                    "'per_document', 30, 1, 0, 0, 1, '{}', 1, now(), now())",
                    tenant,
                    invoice,
                    uuid.uuid4(),
                )
                await conn.executemany(
                    "INSERT INTO public.bench_invoice_lines (tenant_id, invoice_id, id, position, "
                    "kind, description, quantity, unit, unit_amount_minor, amount_minor, "
                    "discount_minor, tax_minor) VALUES ($1, $2, $3, $4, 'time', 'x', 1, 'h', "
                    "1, 1, 0, 0)",
                    [(tenant, invoice, uuid.uuid4(), n) for n in range(TASKS)],
                )
                ids = [uuid.uuid4() for _ in range(ENTRIES)]
                await conn.execute(
                    "INSERT INTO public.bench_invoice_entries (tenant_id, invoice_id, line_id, "
                    "entry_id, entry_version, raw_seconds, billed_seconds, amount_minor, active) "
                    "SELECT $1, $2, $2, e, 1, 3000, 3600, 1, true FROM unnest($3::uuid[]) e",
                    tenant,
                    invoice,
                    ids,
                )
                await conn.execute(
                    "INSERT INTO public.bench_outbox (lane, event_id, topic, key, value) "
                    "VALUES (0, $1, 'invoice-issued', 'k', $2)",
                    uuid.uuid4(),
                    b"x" * 4000,
                )

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(BASELINE_INVOICES)))
        return BASELINE_INVOICES / (time.perf_counter() - t0)
    finally:
        await pool.close()


async def _main(infra: Infra) -> None:
    await migrate(infra, ("timecapture", "invoicing"))
    await run_billing(infra)


def main() -> None:
    with local_infra(PORT, "billstream_bench") as infra:
        asyncio.run(_main(infra))
