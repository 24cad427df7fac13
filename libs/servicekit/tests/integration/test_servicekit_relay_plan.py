"""The relay's claim keeps one plan shape whatever the outbox's statistics say."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from servicekit import db
from servicekit.outbox import LANES
from servicekit.relay import CLAIM_ROWS

pytestmark = pytest.mark.integration

ROWS = 3000
BATCH = 100


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


async def test_claim_locks_its_batch_once_on_statistics_taken_when_the_outbox_looked_empty(
    tc_pool: db.Pool,
) -> None:
    """Statistics taken while every row was dead or not yet committed (an autoanalyze during
    a bulk import) say the outbox is empty. With `id IN (SELECT ... FOR UPDATE SKIP LOCKED)`
    the planner then made the locking subquery the inner side of a semi-join and ran it again
    for every outbox row: in `bench bulk-import` each claim ran until asyncpg's 10 s command
    timeout cancelled it, again and again, and nothing was published. The batch must be
    picked and locked once (on the old statement `LockRows` ran 3,000 times here)."""
    async with tc_pool.acquire() as conn, conn.transaction():
        # A temporary twin shadows the outbox in this session: its statistics are this
        # test's alone, and autovacuum never analyzes it behind the test's back.
        await conn.execute("CREATE TEMP TABLE outbox (LIKE outbox INCLUDING ALL) ON COMMIT DROP")
        fill = (
            "INSERT INTO outbox (lane, event_id, topic, key, value) "
            "SELECT g % $1, gen_random_uuid(), 'time-entry-logged', 'k', '\\x00'::bytea "
            "FROM generate_series(1, $2) AS g"
        )
        await conn.execute(fill, LANES, ROWS)
        await conn.execute("DELETE FROM outbox")
        await conn.execute("ANALYZE outbox")
        stats = await conn.fetchrow(
            "SELECT reltuples, relpages FROM pg_class WHERE oid = 'outbox'::regclass"
        )
        assert stats is not None
        assert (stats["reltuples"], stats["relpages"] > 0) == (0, True)
        await conn.execute(fill, LANES, ROWS)

        [explained] = json.loads(
            await conn.fetchval(
                f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {CLAIM_ROWS}",
                list(range(LANES)),
                BATCH,
            )
        )
        plan = explained["Plan"]
        lock_loops = [n["Actual Loops"] for n in nodes(plan) if n["Node Type"] == "LockRows"]
        assert lock_loops == [1]
        # Nor may deleting the batch read the whole outbox.
        read = [
            (n["Actual Rows"] + n.get("Rows Removed by Filter", 0)) * n["Actual Loops"]
            for n in nodes(plan)
            if n["Node Type"] in {"Seq Scan", "Index Scan", "Bitmap Heap Scan"}
        ]
        assert max(read) == BATCH
        assert plan["Actual Rows"] == BATCH
        assert await conn.fetchval("SELECT count(*) FROM outbox") == ROWS - BATCH
