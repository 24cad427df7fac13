"""Where Postgres spends its time in a run: with `BENCH_PG_STATEMENTS=1` the bench cluster
loads pg_stat_statements and the run prints its top statements by total execution time;
`BENCH_LOG_SLOW_MS` logs slower statements to the cluster's log."""

from __future__ import annotations

import os

import asyncpg

from servicekit.testing import Infra

ENABLED = os.environ.get("BENCH_PG_STATEMENTS") == "1"
TOP = int(os.environ.get("BENCH_PG_STATEMENTS_TOP", "15"))


def preload() -> None:
    """Server options for this run, set before the cluster starts (one already running keeps
    its own): pg_stat_statements if enabled, and with `BENCH_LOG_SLOW_MS` statements slower
    than that logged to the cluster's log."""
    options = [os.environ.get("BILLSTREAM_PG_OPTIONS", "")]
    if ENABLED and "shared_preload_libraries" not in options[0]:
        options.append("-c shared_preload_libraries=pg_stat_statements")
    if slow_ms := os.environ.get("BENCH_LOG_SLOW_MS"):
        options.append(f"-c log_min_duration_statement={int(slow_ms)}ms")
    os.environ["BILLSTREAM_PG_OPTIONS"] = " ".join(filter(None, options))


async def reset(infra: Infra) -> None:
    """Fails if the cluster was already running without the library: stop it and run again."""
    if not ENABLED:
        return
    conn = await asyncpg.connect(infra.admin_dsn())
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await conn.execute("SELECT pg_stat_statements_reset()")
    finally:
        await conn.close()


async def report(infra: Infra, per: int, unit: str) -> None:
    """The top statements, with their cost per `unit` (`per` of them in the run)."""
    if not ENABLED or per == 0:
        return
    conn = await asyncpg.connect(infra.admin_dsn())
    try:
        rows = await conn.fetch(
            "SELECT calls, total_exec_time, rows, query FROM pg_stat_statements "
            "ORDER BY total_exec_time DESC LIMIT $1",
            TOP,
        )
        total = await conn.fetchval(
            "SELECT coalesce(sum(total_exec_time), 0) FROM pg_stat_statements"
        )
        calls = await conn.fetchval("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements")
    finally:
        await conn.close()
    print(
        f"  postgres statements: {total / per:.2f} ms executing and {calls / per:.1f} calls "
        f"per {unit}; top by total time:"
    )
    for row in rows:
        query = " ".join(row["query"].split())[:160]
        print(
            f"    {row['total_exec_time'] / per:7.3f} ms/{unit} {row['calls'] / per:6.2f} calls "
            f"{row['rows'] / max(row['calls'], 1):8.1f} rows/call  {query}"
        )
