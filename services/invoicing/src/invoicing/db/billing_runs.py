from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from invoicing.domain.billing_runs import BillingRun, RunFailure
from servicekit import rows
from servicekit.db import Connection, Pool

RUNS = "billing_runs"

# Clients the run may have work for, after `$4` in id order: unbilled billable time in the
# window, a monthly retainer in effect in the period, or billed time changed since its issue
# (an adjustment). Neither invoiced by the run nor given up on. Probed per client through
# indexes, so a page costs its clients, not the whole ledger.
NEXT_CLIENTS = """
SELECT c.client_id
FROM client_replicas c
WHERE NOT c.deleted AND ($4::uuid IS NULL OR c.client_id > $4)
    AND (
        EXISTS (
            SELECT 1 FROM project_replicas p
            JOIN ledger_entries l ON l.tenant_id = p.tenant_id AND l.project_id = p.project_id
            WHERE p.tenant_id = c.tenant_id AND p.client_id = c.client_id
                AND l.billable AND NOT l.deleted AND l.started_at >= $1 AND l.started_at < $2
                AND NOT EXISTS (
                    SELECT 1 FROM invoice_entries e
                    WHERE e.tenant_id = l.tenant_id AND e.entry_id = l.entry_id AND e.active
                )
        )
        OR EXISTS (
            SELECT 1 FROM rate_rules r
            WHERE r.tenant_id = c.tenant_id AND r.client_id = c.client_id
                AND r.kind = 'monthly_retainer' AND r.currency = c.currency
                AND r.effective_from <= $6 AND (r.effective_to IS NULL OR r.effective_to >= $7)
        )
        OR EXISTS (
            SELECT 1 FROM invoices i
            JOIN invoice_entries e ON e.tenant_id = i.tenant_id AND e.invoice_id = i.id
            JOIN ledger_entries l ON l.tenant_id = e.tenant_id AND l.entry_id = e.entry_id
            WHERE i.tenant_id = c.tenant_id AND i.client_id = c.client_id
                AND i.status = 'issued' AND e.active AND l.version > e.entry_version
        )
    )
    AND NOT EXISTS (
        SELECT 1 FROM invoices i
        WHERE i.tenant_id = c.tenant_id AND i.billing_run_id = $3 AND i.client_id = c.client_id
    )
    AND NOT EXISTS (
        SELECT 1 FROM billing_run_failures f
        WHERE f.billing_run_id = $3 AND f.client_id = c.client_id
    )
ORDER BY c.client_id
LIMIT $5
"""


async def insert(conn: Connection, run: BillingRun) -> None:
    await rows.insert(conn, RUNS, run)


async def get(conn: Connection, run_id: UUID) -> BillingRun | None:
    return await rows.fetch(conn, RUNS, BillingRun, run_id, lock=False)


async def next_clients(  # noqa: PLR0917
    conn: Connection,
    run: BillingRun,
    start: datetime,
    end: datetime,
    after: UUID | None,
    limit: int,
) -> list[UUID]:
    found = await conn.fetch(
        NEXT_CLIENTS, start, end, run.id, after, limit, run.period_end, run.period_start
    )
    return [r["client_id"] for r in found]


async def complete(conn: Connection, run_id: UUID, now: datetime) -> None:
    await conn.execute(
        "UPDATE billing_runs SET status = 'completed', completed_at = $2, updated_at = $2, "
        "version = version + 1 WHERE tenant_id = current_tenant() AND id = $1 "
        "AND status = 'running'",
        run_id,
        now,
    )


async def record_failure(
    conn: Connection, tenant_id: UUID, run_id: UUID, client_id: UUID, failure: RunFailure
) -> None:
    await conn.execute(
        "INSERT INTO billing_run_failures (tenant_id, billing_run_id, client_id, problem_type, "
        "detail, failed_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        tenant_id,
        run_id,
        client_id,
        failure.problem_type,
        failure.detail,
        failure.failed_at,
    )


async def failures(conn: Connection, run_id: UUID) -> list[RunFailure]:
    found = await conn.fetch(
        "SELECT client_id, problem_type, detail, failed_at FROM billing_run_failures "
        "WHERE billing_run_id = $1 ORDER BY client_id",
        run_id,
    )
    return [RunFailure(**dict(r)) for r in found]


async def totals(conn: Connection, run_id: UUID) -> list[dict[str, Any]]:
    """Invoices of the run per currency: how many, how many issued, their total."""
    found = await conn.fetch(
        "SELECT currency, count(*) AS invoices, count(*) FILTER (WHERE status = 'issued') "
        "AS issued, sum(total_minor)::bigint AS total_minor FROM invoices "
        "WHERE tenant_id = current_tenant() AND billing_run_id = $1 "
        "GROUP BY currency ORDER BY currency",
        run_id,
    )
    return [dict(r) for r in found]


async def unfinished(pool: Pool) -> list[tuple[UUID, UUID]]:
    """(tenant, run) of every run still running, across tenants (read-only scan)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT set_config('billstream.job_scan', 'on', true)")
        found = await conn.fetch(
            "SELECT tenant_id, id FROM billing_runs WHERE status = 'running' ORDER BY created_at"
        )
    return [(r["tenant_id"], r["id"]) for r in found]


async def unissued(conn: Connection, run_id: UUID) -> list[tuple[UUID, UUID]]:
    """(client, invoice) of the run's drafts that no failure explains."""
    found = await conn.fetch(
        "SELECT i.client_id, i.id FROM invoices i "
        "WHERE i.tenant_id = current_tenant() AND i.billing_run_id = $1 "
        "AND i.status = 'draft' AND NOT EXISTS (SELECT 1 FROM billing_run_failures f "
        "WHERE f.billing_run_id = $1 AND f.client_id = i.client_id) ORDER BY i.client_id",
        run_id,
    )
    return [(r["client_id"], r["id"]) for r in found]


async def still_drafts(conn: Connection, invoice_ids: list[UUID]) -> set[UUID]:
    found = await conn.fetch(
        "SELECT id FROM invoices WHERE tenant_id = current_tenant() AND id = ANY($1::uuid[]) "
        "AND status = 'draft'",
        invoice_ids,
    )
    return {r["id"] for r in found}
