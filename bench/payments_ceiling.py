"""The floor under `payments-api` on this machine: the same load (BENCH_RATE payments a second
for BENCH_SECONDS, after BENCH_WARM_SECONDS unmeasured, one Idempotency-Key each, from the
same client) through the same hops (a proxy, a payments server committing to Postgres, its
outbox relay, the broker, a consumer committing the invoice paid), measured the same way
(`bench.paying`), but each hop built from nothing but its libraries (`bench.ceiling`): one
statement per payment and one per consumed batch, no validation, tenancy, identity or
telemetry. It runs twice, each time on a fresh cluster: with no framework (a bare ASGI app,
an aiokafka loop), then on FastAPI and FastStream as the services are (a pydantic body,
a batch subscriber polled as `servicekit.consumer` polls it), still without any of the
services' middleware or checks.

Each does less than the platform does, so its payment -> paid p99 is a lower bound: if the
first misses the goal (100 ms at 200/s), no code on this path can meet it here; the second
is the floor for code built as the services are; the rest of `payments-api`'s CPU per
payment is what Billstream's own layers cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import asyncpg

from bench import pg_statements
from bench.ceiling import NOTIFY_CHANNEL, SCHEMA, frameworks
from bench.event_latency import free_port
from bench.paying import (
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
from bench.services import log_to
from bench.stats import summary_ms
from servicekit.testing import Infra, local_infra

PORT = int(os.environ.get("BENCH_PG_PORT", "55434"))

_TABLES = f"""
DROP SCHEMA IF EXISTS {SCHEMA} CASCADE;
CREATE SCHEMA {SCHEMA};
CREATE TABLE {SCHEMA}.receivables (
    invoice_id uuid PRIMARY KEY, client_id uuid NOT NULL, currency text NOT NULL,
    total_minor bigint NOT NULL, paid_minor bigint NOT NULL DEFAULT 0);
CREATE TABLE {SCHEMA}.idempotency_keys (
    key text PRIMARY KEY, fingerprint bytea NOT NULL, status_code int NOT NULL,
    body bytea NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE {SCHEMA}.payments (
    id uuid PRIMARY KEY, invoice_id uuid NOT NULL, client_id uuid NOT NULL,
    currency text NOT NULL, amount_minor bigint NOT NULL, method text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON {SCHEMA}.payments (invoice_id);
CREATE TABLE {SCHEMA}.outbox (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, key bytea NOT NULL,
    value bytea NOT NULL);
CREATE FUNCTION {SCHEMA}.notify() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN PERFORM pg_notify('{NOTIFY_CHANNEL}', ''); RETURN NULL; END $$;
CREATE TRIGGER notify AFTER INSERT ON {SCHEMA}.outbox
    FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.notify();
CREATE TABLE {SCHEMA}.invoices (
    id uuid PRIMARY KEY, total_minor bigint NOT NULL, paid_minor bigint NOT NULL DEFAULT 0,
    payment_status text NOT NULL DEFAULT 'unpaid');
CREATE TABLE {SCHEMA}.invoice_payments (
    id uuid PRIMARY KEY, invoice_id uuid NOT NULL, amount_minor bigint NOT NULL);
CREATE INDEX ON {SCHEMA}.invoice_payments (invoice_id);
CREATE TABLE {SCHEMA}.inbox (event_id uuid PRIMARY KEY);
"""


async def _seed(infra: Infra, invoices: int) -> None:
    conn = await asyncpg.connect(infra.admin_dsn())
    try:
        await conn.execute(_TABLES)
        rows = [(uuid.uuid4(), uuid.uuid4(), 1_000 + i % 90_000) for i in range(invoices)]
        await conn.copy_records_to_table(
            "receivables",
            schema_name=SCHEMA,
            records=[(i, c, "EUR", t) for i, c, t in rows],
            columns=["invoice_id", "client_id", "currency", "total_minor"],
        )
        await conn.copy_records_to_table(
            "invoices",
            schema_name=SCHEMA,
            records=[(i, t) for i, _, t in rows],
            columns=["id", "total_minor"],
        )
        await conn.execute("ANALYZE; CHECKPOINT")
    finally:
        await conn.close()


@contextlib.contextmanager
def _parts(infra: Infra) -> Iterator[str]:
    """The three parts as processes; yields the proxy's URL."""
    ports = {"payments": free_port(), "gateway": free_port()}
    env = {
        **os.environ,
        "CEILING_DSN": infra.admin_dsn(),
        "CEILING_KAFKA": infra.kafka.bootstrap_servers,
        "CEILING_PAYMENTS_URL": f"http://127.0.0.1:{ports['payments']}",
    }
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for part in ("payments", "gateway", "invoicing"):
            listen = {"CEILING_PORT": str(ports[part])} if part in ports else {}
            module = f"bench.ceiling.{part}"
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", module], env={**env, **listen}, stderr=log_to(module)
                )
            )
        for port in ports.values():
            _wait_for_port(port)
        yield f"http://127.0.0.1:{ports['gateway']}"
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


def _wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"no ceiling part on port {port} after {timeout:.0f} s")


async def run(infra: Infra) -> None:
    count = int(RATE * SECONDS)
    warm = int(RATE * WARM_SECONDS)
    await _seed(infra, warm + count)
    invoices = await fetch(
        infra, f"SELECT invoice_id, total_minor FROM {SCHEMA}.receivables ORDER BY invoice_id"
    )
    with _parts(infra) as url:
        payer = Payer(url, {}, invoices)
        await payer.start()
        try:
            await payer.phase(0, warm)
            if payer.errors:
                raise RuntimeError(f"{payer.errors} of {warm} warm-up payments failed")
            # The consumer joined its group and caught up: the measured phase starts level.
            await wait_for_rows(infra, f"{SCHEMA}.invoice_payments", warm)
            print(f"  load: {count} payments at {RATE:.0f}/s", flush=True)
            cpu_before = cpu_seconds(infra)
            achieved = await payer.phase(warm, count)
        finally:
            await payer.close()
        await wait_for_rows(infra, f"{SCHEMA}.invoice_payments", warm + len(payer.starts))
        cpu_after = cpu_seconds(infra)
    built = "FastAPI and FastStream" if frameworks() else "libraries alone"
    print(
        f"ceiling ({built}): {count} at {RATE:.0f}/s offered after {warm} to warm up, "
        f"{achieved:.0f}/s achieved, {payer.errors} errors, {payer.retries} retried; "
        f"API latency {summary_ms(payer.latencies)}"
    )
    await report_path(
        infra,
        payer,
        payments_table=f"{SCHEMA}.payments",
        paid_table=f"{SCHEMA}.invoice_payments",
        expected_records=warm + count,
    )
    report_cpu(cpu_before, cpu_after, count)


def main() -> None:
    """Both floors, each on a fresh cluster: the libraries alone, then with the frameworks
    the services are built on (`CEILING_FRAMEWORKS`, read by the parts)."""
    for tier in ("0", "1"):
        os.environ["CEILING_FRAMEWORKS"] = tier
        with local_infra(PORT, "billstream_bench") as infra:
            asyncio.run(_main(infra))


async def _main(infra: Infra) -> None:
    await pg_statements.require_commit_timestamps(infra)
    await run(infra)
