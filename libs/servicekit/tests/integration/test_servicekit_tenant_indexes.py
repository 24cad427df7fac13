"""Lookups by key are served by the (tenant_id, ...) index even on tables whose row-level
security ORs tenant isolation with a cross-tenant job policy (decision 34).

RLS adds `tenant_id = current_tenant() OR (current_tenant() IS NULL AND job scan)`: no index
can serve an OR, so without the tenant named in the statement Postgres searched the whole
primary key for an id (1.9 ms at 10,000 invoices, growing with the table)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from servicekit import idempotency, rows
from servicekit.db import set_tenant
from servicekit.testing import Infra

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class _Id:
    id: uuid.UUID


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


async def _plan(infra: Infra, query: str, *args: Any) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(infra.dsn("invoicing"))
    try:
        async with conn.transaction():
            await set_tenant(conn, uuid.uuid4())
            # Empty test tables: without this a sequential scan is cheapest and proves nothing.
            await conn.execute("SET LOCAL enable_seqscan = off")
            [[raw]] = await conn.fetch(f"EXPLAIN (FORMAT JSON) {query}", *args)
    finally:
        await conn.close()
    return list(_nodes(json.loads(raw)[0]["Plan"]))


async def _tables_with_a_job_policy(infra: Infra) -> list[str]:
    conn = await asyncpg.connect(infra.dsn("invoicing"))
    try:
        found = await conn.fetch(
            "SELECT DISTINCT tablename FROM pg_policies "
            "WHERE schemaname = current_schema() AND policyname LIKE 'job_scan%' "
            "ORDER BY tablename"
        )
    finally:
        await conn.close()
    return [r["tablename"] for r in found]


def _served_by_tenant_index(nodes: list[dict[str, Any]]) -> bool:
    return any("tenant_id" in node.get("Index Cond", "") for node in nodes) and not any(
        node["Node Type"] == "Seq Scan" for node in nodes
    )


async def test_the_tables_with_a_cross_tenant_policy_are_the_ones_checked_here(
    infra: Infra, migrated: None
) -> None:
    # A new job policy must come with its lookups checked below.
    assert await _tables_with_a_job_policy(infra) == [
        "billing_runs",
        "idempotency_keys",
        "invoices",
        "recurring_invoices",
    ]


@pytest.mark.parametrize("table", ["billing_runs", "invoices", "recurring_invoices"])
async def test_a_row_fetched_by_id_is_found_through_the_tenant_index(
    infra: Infra, migrated: None, table: str
) -> None:
    nodes = await _plan(infra, rows.select_sql(table, _Id), uuid.uuid4())

    assert _served_by_tenant_index(nodes), nodes


async def test_an_idempotency_key_is_found_through_the_tenant_index(
    infra: Infra, migrated: None
) -> None:
    # Its STORE is an INSERT, whose conflict check is the unique index itself.
    nodes = await _plan(infra, idempotency.REPLAY, uuid.uuid4(), "key-1")

    assert _served_by_tenant_index(nodes), nodes
