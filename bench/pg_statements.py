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
    its own): commit timestamps, pg_stat_statements if enabled, and with `BENCH_LOG_SLOW_MS`
    statements slower than that logged to the cluster's log."""
    # Commit timestamps: latencies end at the consumer's commit record (written just before
    # its WAL flush, so the flush itself is not counted).
    options = [os.environ.get("BILLSTREAM_PG_OPTIONS", ""), "-c track_commit_timestamp=on"]
    if ENABLED and "shared_preload_libraries" not in options[0]:
        options.append("-c shared_preload_libraries=pg_stat_statements")
        # Planning counts too: a prepared statement whose generic plan is rejected is planned
        # again at every execution.
        options.append("-c pg_stat_statements.track_planning=on")
    if slow_ms := os.environ.get("BENCH_LOG_SLOW_MS"):
        options.append(f"-c log_min_duration_statement={int(slow_ms)}ms")
    os.environ["BILLSTREAM_PG_OPTIONS"] = " ".join(filter(None, options))


async def require_commit_timestamps(infra: Infra) -> None:
    """Latencies read commit timestamps: fail now, not after the run, on a cluster that was
    already running without them."""
    conn = await asyncpg.connect(infra.admin_dsn())
    try:
        if await conn.fetchval("SHOW track_commit_timestamp") != "on":
            raise RuntimeError("the bench cluster runs without commit timestamps: stop it")
    finally:
        await conn.close()


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
            "SELECT calls, plans, total_exec_time, total_plan_time, rows, query "
            "FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC LIMIT $1",
            TOP,
        )
        sums = await conn.fetchrow(
            "SELECT coalesce(sum(total_exec_time), 0) AS total, "
            "coalesce(sum(total_plan_time), 0) AS planning FROM pg_stat_statements"
        )
        assert sums is not None
        total, planning = sums["total"], sums["planning"]
        calls = await conn.fetchval("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements")
    finally:
        await conn.close()
    print(
        f"  postgres statements: {total / per:.2f} ms executing, {planning / per:.2f} ms "
        f"planning and {calls / per:.1f} calls per {unit}; top by total time:"
    )
    for row in rows:
        query = " ".join(row["query"].split())[:160]
        print(
            f"    {row['total_exec_time'] / per:7.3f} ms/{unit} executing, "
            f"{row['total_plan_time'] / per:.3f} planning; {row['calls'] / per:6.2f} calls, "
            f"{row['plans'] / per:.2f} plans, {row['rows'] / max(row['calls'], 1):8.1f} rows/call"
            f"  {query}"
        )
