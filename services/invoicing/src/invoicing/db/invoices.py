"""Invoices, their lines and billed entries, the unbilled query and the number series."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from invoicing.domain.drafting import BilledChange, UnbilledEntry
from invoicing.domain.invoices import BilledEntry, Invoice, InvoiceLine
from invoicing.domain.pricing import Tax
from servicekit import rows
from servicekit.db import Connection, Pool

INVOICES = "invoices"
LINES = "invoice_lines"
_INVOICE_COLS = rows.columns(Invoice)
_LINE_COLS = rows.columns(InvoiceLine)
_JSON_COLS = ("client_snapshot", "seller_snapshot")

_LINE_TYPES = {
    "tenant_id": "uuid", "invoice_id": "uuid", "id": "uuid", "position": "integer",
    "kind": "text", "description": "text", "project_id": "uuid", "member_id": "uuid",
    "task": "text", "quantity": "numeric", "unit": "text", "unit_amount_minor": "bigint",
    "amount_minor": "bigint", "line_discount_kind": "text", "line_discount_value": "numeric",
    "discount_minor": "bigint", "tax_rate_id": "uuid", "tax_name": "text",
    "tax_percent": "numeric", "tax_treatment": "text", "tax_minor": "bigint",
    "raw_seconds": "bigint", "billed_seconds": "bigint", "rate_rule_id": "uuid",
    "rate_scope": "text", "rate_explanation": "text", "adjusts_invoice_id": "uuid",
}  # fmt: skip

UNBILLED = """
SELECT p.client_id, l.entry_id, l.version, l.member_id, l.project_id, p.name AS project_name,
    l.task, l.started_at, l.duration_seconds, p.rounding_increment_minutes, p.rounding_mode
FROM ledger_entries l
JOIN project_replicas p ON p.tenant_id = l.tenant_id AND p.project_id = l.project_id
WHERE p.client_id = ANY($1::uuid[]) AND l.billable AND NOT l.deleted
    AND l.started_at >= $2 AND l.started_at < $3
    AND NOT EXISTS (
        SELECT 1 FROM invoice_entries e
        WHERE e.tenant_id = l.tenant_id AND e.entry_id = l.entry_id AND e.active
    )
"""

# Entries of a draft whose ledger state is no longer what the draft priced.
STALE = """
SELECT e.entry_id
FROM invoice_entries e
LEFT JOIN ledger_entries l ON l.tenant_id = e.tenant_id AND l.entry_id = e.entry_id
WHERE e.invoice_id = $1 AND (l.entry_id IS NULL OR l.version <> e.entry_version)
ORDER BY e.entry_id
"""

NEXT_NUMBER = """
INSERT INTO number_series AS s (tenant_id, series, prefix, year, last_value)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (tenant_id, series, prefix, year) DO UPDATE SET last_value = s.last_value + $5
RETURNING last_value
"""


# Entries on this client's issued invoices that were revised or deleted since: what the
# next invoice adjusts.
CHANGED = """
SELECT i.client_id, e.invoice_id, i.number AS invoice_number, e.entry_id, e.billed_seconds,
    e.amount_minor,
    l.version AS new_version, l.deleted, l.billable, l.member_id, l.project_id, l.task,
    l.started_at, l.duration_seconds, p.client_id AS project_client_id,
    p.name AS project_name, p.rounding_increment_minutes, p.rounding_mode,
    il.tax_rate_id, il.tax_name, il.tax_percent, il.tax_treatment,
    EXISTS (
        SELECT 1 FROM credit_note_lines c
        WHERE c.tenant_id = e.tenant_id AND c.invoice_line_id = e.line_id
    ) AS credited
FROM invoice_entries e
JOIN invoices i ON i.tenant_id = e.tenant_id AND i.id = e.invoice_id
JOIN invoice_lines il
    ON il.tenant_id = e.tenant_id AND il.invoice_id = e.invoice_id AND il.id = e.line_id
JOIN ledger_entries l ON l.tenant_id = e.tenant_id AND l.entry_id = e.entry_id
LEFT JOIN project_replicas p ON p.tenant_id = l.tenant_id AND p.project_id = l.project_id
WHERE i.client_id = ANY($1::uuid[]) AND i.status = 'issued' AND e.active
    AND l.version > e.entry_version
ORDER BY i.issued_at, e.entry_id
"""


def invoice_of(row: Any) -> Invoice:
    values = {c: row[c] for c in _INVOICE_COLS}
    for col in _JSON_COLS:
        if isinstance(values[col], str):
            values[col] = json.loads(values[col])
    return Invoice(**values)


def _invoice_values(invoice: Invoice) -> list[Any]:
    return [
        json.dumps(getattr(invoice, c))
        if c in _JSON_COLS and getattr(invoice, c) is not None
        else getattr(invoice, c)
        for c in _INVOICE_COLS
    ]


async def unbilled(
    conn: Connection, client_id: UUID, start: datetime, end: datetime
) -> list[UnbilledEntry]:
    return (await unbilled_many(conn, [client_id], start, end))[client_id]


async def unbilled_many(
    conn: Connection, client_ids: Sequence[UUID], start: datetime, end: datetime
) -> dict[UUID, list[UnbilledEntry]]:
    """Each client's unbilled billable time in [start, end), in one statement."""
    found: dict[UUID, list[UnbilledEntry]] = {c: [] for c in client_ids}
    for r in await conn.fetch(UNBILLED, list(client_ids), start, end):
        values = dict(r)
        found[values.pop("client_id")].append(UnbilledEntry(**values))
    return found


_INSERT_CHARGE = (
    "INSERT INTO invoice_charges (tenant_id, invoice_id, rate_rule_id, month, active) "
    "VALUES ($1, $2, $3, $4, true)"
)


def _insert_args(
    invoice: Invoice, lines: Sequence[InvoiceLine], entries: Sequence[BilledEntry]
) -> list[Any]:
    line_arrays: list[Sequence[Any]] = (
        list(zip(*(rows.values(line) for line in lines), strict=True))
        if lines
        else [() for _ in _LINE_COLS]
    )
    entry_arrays = [
        [e.line_id for e in entries],
        [e.entry_id for e in entries],
        [e.entry_version for e in entries],
        [e.raw_seconds for e in entries],
        [e.billed_seconds for e in entries],
        [e.amount_minor for e in entries],
        [e.active for e in entries],
    ]
    return [*_invoice_values(invoice), *line_arrays, *entry_arrays]


def _insert_all_sql(n_invoice: int, n_lines: int) -> str:
    invoice_params = ", ".join(f"${i}" for i in range(1, n_invoice + 1))
    line_params = ", ".join(
        f"${n_invoice + i}::{_LINE_TYPES[c]}[]" for i, c in enumerate(_LINE_COLS, start=1)
    )
    e = n_invoice + n_lines  # entry arrays follow
    tenant, invoice_id = "$1", "$2"
    return (
        f"WITH i AS (INSERT INTO invoices ({', '.join(_INVOICE_COLS)}) "
        f"VALUES ({invoice_params})), "
        f"l AS (INSERT INTO invoice_lines ({', '.join(_LINE_COLS)}) "
        f"SELECT * FROM unnest({line_params})), "
        "x AS (INSERT INTO invoice_entries (tenant_id, invoice_id, line_id, entry_id, "
        "entry_version, raw_seconds, billed_seconds, amount_minor, active) "
        f"SELECT {tenant}::uuid, {invoice_id}::uuid, r.* FROM unnest(${e + 1}::uuid[], "
        f"${e + 2}::uuid[], ${e + 3}::integer[], ${e + 4}::integer[], ${e + 5}::integer[], "
        f"${e + 6}::bigint[], ${e + 7}::boolean[]) AS r) "
        "SELECT 1"
    )


async def get(conn: Connection, invoice_id: UUID, *, lock: bool = False) -> Invoice | None:
    row = await conn.fetchrow(rows.select_sql(INVOICES, Invoice, lock=lock), invoice_id)
    return None if row is None else invoice_of(row)


async def insert_many(
    conn: Connection,
    drafts: Sequence[
        tuple[Invoice, Sequence[InvoiceLine], Sequence[BilledEntry], Sequence[tuple[UUID, date]]]
    ],
) -> None:
    """Invoices with their lines and entries (one statement each, pipelined in one round trip:
    round trips dominated drafting), then their fee and retainer charges if any."""
    if not drafts:
        return
    await conn.executemany(
        _insert_all_sql(len(_INVOICE_COLS), len(_LINE_COLS)),
        [_insert_args(invoice, lines, entries) for invoice, lines, entries, _ in drafts],
    )
    charges = [
        (invoice.tenant_id, invoice.id, rule_id, month)
        for invoice, _, _, of_invoice in drafts
        for rule_id, month in of_invoice
    ]
    if charges:
        await conn.executemany(_INSERT_CHARGE, charges)


async def update(conn: Connection, invoice: Invoice) -> None:
    await conn.execute(rows.update_sql(INVOICES, Invoice), *_update_args(invoice))


async def update_many(conn: Connection, invoices: Sequence[Invoice]) -> None:
    """Several full-row updates in one pipelined round trip."""
    if invoices:
        await conn.executemany(
            rows.update_sql(INVOICES, Invoice), [_update_args(i) for i in invoices]
        )


_UPDATED_COLS = [c for c in _INVOICE_COLS if c not in ("tenant_id", "id", "created_at")]


def _update_args(invoice: Invoice) -> list[Any]:
    values = dict(zip(_INVOICE_COLS, _invoice_values(invoice), strict=True))
    return [invoice.tenant_id, invoice.id, *[values[c] for c in _UPDATED_COLS]]


_ISSUED_COLUMNS = {
    "status": "text",
    "number": "text",
    "due_date": "date",
    "seller_snapshot": "jsonb",
    "payment_status": "text",
    "collection_status": "text",
    "version": "integer",
    "updated_at": "timestamptz",
    "issued_at": "timestamptz",
    "partially_paid_at": "timestamptz",
    "paid_at": "timestamptz",
}


async def mark_issued(conn: Connection, invoices: Sequence[Invoice]) -> None:
    """Write what issuing changes, for many invoices in one statement."""
    cols = list(_ISSUED_COLUMNS)
    sets = ", ".join(f"{c} = r.{c}" for c in cols)
    arrays = ", ".join(f"${i}::{t}[]" for i, t in enumerate(_ISSUED_COLUMNS.values(), start=2))
    values = [
        [
            json.dumps(getattr(i, c))
            if c in _JSON_COLS and getattr(i, c) is not None
            else getattr(i, c)
            for i in invoices
        ]
        for c in cols
    ]
    await conn.execute(
        f"UPDATE invoices AS v SET {sets} FROM unnest($1::uuid[], {arrays}) "
        f"AS r(id, {', '.join(cols)}) WHERE v.tenant_id = current_tenant() AND v.id = r.id",
        [i.id for i in invoices],
        *values,
    )


async def lines_of(conn: Connection, invoice_id: UUID) -> list[InvoiceLine]:
    found = await conn.fetch(
        f"SELECT {', '.join(_LINE_COLS)} FROM invoice_lines WHERE invoice_id = $1 "
        "ORDER BY position",
        invoice_id,
    )
    return [rows.from_row(InvoiceLine, r) for r in found]


async def entries_of(conn: Connection, invoice_id: UUID) -> list[BilledEntry]:
    found = await conn.fetch(
        f"SELECT {', '.join(rows.columns(BilledEntry))} FROM invoice_entries "
        "WHERE invoice_id = $1 ORDER BY entry_id",
        invoice_id,
    )
    return [rows.from_row(BilledEntry, r) for r in found]


async def locked_many(conn: Connection, invoice_ids: Sequence[UUID]) -> dict[UUID, Invoice]:
    """These invoices, locked in id order (two batches never wait on each other in a cycle)."""
    found = await conn.fetch(
        f"SELECT {', '.join(_INVOICE_COLS)} FROM invoices "
        "WHERE tenant_id = current_tenant() AND id = ANY($1::uuid[]) "
        "ORDER BY id FOR UPDATE",
        list(invoice_ids),
    )
    return {r["id"]: invoice_of(r) for r in found}


async def stale_many(conn: Connection, invoice_ids: Sequence[UUID]) -> dict[UUID, list[UUID]]:
    found = await conn.fetch(
        "SELECT e.invoice_id, e.entry_id FROM invoice_entries e "
        "LEFT JOIN ledger_entries l ON l.tenant_id = e.tenant_id AND l.entry_id = e.entry_id "
        "WHERE e.invoice_id = ANY($1::uuid[]) AND (l.entry_id IS NULL "
        "OR l.version <> e.entry_version) ORDER BY e.entry_id",
        list(invoice_ids),
    )
    stale: dict[UUID, list[UUID]] = {}
    for r in found:
        stale.setdefault(r["invoice_id"], []).append(r["entry_id"])
    return stale


async def stale_entries(conn: Connection, invoice_id: UUID) -> list[UUID]:
    return [r["entry_id"] for r in await conn.fetch(STALE, invoice_id)]


async def billed_charges(conn: Connection, rule_ids: Sequence[UUID]) -> list[tuple[UUID, date]]:
    """Fees and retainer months of these rules already billed."""
    if not rule_ids:
        return []
    found = await conn.fetch(
        "SELECT rate_rule_id, month FROM invoice_charges WHERE active "
        "AND rate_rule_id = ANY($1::uuid[])",
        list(rule_ids),
    )
    return [(r["rate_rule_id"], r["month"]) for r in found]


async def release(conn: Connection, invoice_id: UUID) -> None:
    """The invoice no longer holds its entries, fees and retainer months (it was voided)."""
    await conn.execute(
        "UPDATE invoice_entries SET active = false WHERE invoice_id = $1 AND active", invoice_id
    )
    await conn.execute(
        "UPDATE invoice_charges SET active = false WHERE invoice_id = $1 AND active", invoice_id
    )


async def delete(conn: Connection, invoice_id: UUID) -> None:
    """A draft and everything it holds (its rows have no foreign key to cascade from)."""
    await conn.execute(
        "WITH e AS (DELETE FROM invoice_entries WHERE invoice_id = $1), "
        "l AS (DELETE FROM invoice_lines WHERE invoice_id = $1), "
        "c AS (DELETE FROM invoice_charges WHERE invoice_id = $1) "
        "DELETE FROM invoices WHERE tenant_id = current_tenant() AND id = $1",
        invoice_id,
    )


async def next_number(
    conn: Connection, tenant_id: UUID, series: str, prefix: str, year: int
) -> int:
    """The next sequence value; the row stays locked until this transaction ends."""
    return await take_numbers(conn, tenant_id, series, prefix, year, 1)


async def take_numbers(  # noqa: PLR0917
    conn: Connection, tenant_id: UUID, series: str, prefix: str, year: int, count: int
) -> int:
    """Reserve `count` consecutive sequence values; returns the last. Locked until commit,
    and committed with the documents or rolled back with them: no gap either way."""
    value = await conn.fetchval(NEXT_NUMBER, tenant_id, series, prefix, year, count)
    assert isinstance(value, int)
    return int(value)


async def lock_client_in_run(conn: Connection, client_id: UUID, run_id: UUID) -> bool:
    """Take the client's drafting lock; True when the run has an invoice for it already.

    Two statements: the check needs a snapshot taken after the lock was granted."""
    await lock_client(conn, client_id)
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM invoices WHERE tenant_id = current_tenant() "
            "AND billing_run_id = $1 AND client_id = $2)",
            run_id,
            client_id,
        )
    )


async def lock_clients_in_run(
    conn: Connection, client_ids: Sequence[UUID], run_id: UUID
) -> set[UUID]:
    """`lock_client_in_run` for several clients (locked in id order, so two batches never
    wait on each other in a cycle): those the run has an invoice for already."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(c::text, 0)) "
        "FROM unnest($1::uuid[]) AS c ORDER BY c",
        sorted(client_ids),
    )
    found = await conn.fetch(
        "SELECT client_id FROM invoices WHERE tenant_id = current_tenant() "
        "AND billing_run_id = $1 AND client_id = ANY($2::uuid[])",
        run_id,
        list(client_ids),
    )
    return {r["client_id"] for r in found}


async def lock_client(conn: Connection, client_id: UUID) -> None:
    """Drafts for one client run one at a time, so two never take the same unbilled entry."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1::uuid::text, 0))", client_id
    )


async def add_payment(  # noqa: PLR0917
    conn: Connection,
    tenant_id: UUID,
    payment_id: UUID,
    invoice_id: UUID,
    kind: str,
    amount_minor: int,
    occurred_at: datetime,
) -> bool:
    """False when this payment or refund was already applied."""
    return bool(
        await conn.fetchval(
            "INSERT INTO invoice_payments (tenant_id, id, invoice_id, kind, amount_minor, "
            "occurred_at) VALUES ($1, $2, $3, $4, $5, $6) "
            "ON CONFLICT (tenant_id, id) DO NOTHING RETURNING true",
            tenant_id,
            payment_id,
            invoice_id,
            kind,
            amount_minor,
            occurred_at,
        )
    )


async def add_payments(
    conn: Connection, money: Sequence[tuple[UUID, UUID, str, int, datetime]]
) -> set[UUID]:
    """(id, invoice, kind, amount, occurred_at) of payments and refunds, in one statement:
    the ids not applied before."""
    found = await conn.fetch(
        "INSERT INTO invoice_payments (tenant_id, id, invoice_id, kind, amount_minor, "
        "occurred_at) SELECT current_tenant(), * FROM unnest($1::uuid[], $2::uuid[], "
        "$3::text[], $4::bigint[], $5::timestamptz[]) "
        "ON CONFLICT (tenant_id, id) DO NOTHING RETURNING id",
        *(list(column) for column in zip(*money, strict=True)),
    )
    return {r["id"] for r in found}


@dataclass(frozen=True, slots=True)
class DueCandidate:
    tenant_id: UUID
    id: UUID
    due_date: date


async def due_candidates(
    pool: Pool, horizon: date, after: tuple[object, ...] | None, limit: int
) -> list[DueCandidate]:
    """Issued, current, unpaid invoices due before `horizon`, across tenants, in pages.

    Read outside any tenant through the read-only `job_scan` policy; each is then changed in
    its own tenant's transaction.
    """
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT set_config('billstream.job_scan', 'on', true)")
        found = await conn.fetch(
            "SELECT tenant_id, id, due_date FROM invoices "
            "WHERE status = 'issued' AND collection_status = 'current' "
            "AND payment_status <> 'paid' AND due_date < $1 "
            "AND ($2::date IS NULL OR (due_date, tenant_id, id) > ($2, $3, $4)) "
            "ORDER BY due_date, tenant_id, id LIMIT $5",
            horizon,
            *(after or (None, None, None)),
            limit,
        )
    return [DueCandidate(**dict(r)) for r in found]


async def changed_billed(conn: Connection, client_id: UUID) -> list[BilledChange]:
    return (await changed_billed_many(conn, [client_id]))[client_id]


async def changed_billed_many(
    conn: Connection, client_ids: Sequence[UUID]
) -> dict[UUID, list[BilledChange]]:
    """Each client's billed time revised or deleted since its issue, in one statement."""
    found: dict[UUID, list[BilledChange]] = {c: [] for c in client_ids}
    for r in await conn.fetch(CHANGED, list(client_ids)):
        client_id = r["client_id"]
        changes = found[client_id]
        still_billable = not r["deleted"] and r["billable"] and r["project_client_id"] == client_id
        now = (
            UnbilledEntry(
                entry_id=r["entry_id"],
                version=r["new_version"],
                member_id=r["member_id"],
                project_id=r["project_id"],
                project_name=r["project_name"],
                task=r["task"],
                started_at=r["started_at"],
                duration_seconds=r["duration_seconds"],
                rounding_increment_minutes=r["rounding_increment_minutes"],
                rounding_mode=r["rounding_mode"],
            )
            if still_billable
            else None
        )
        changes.append(
            BilledChange(
                invoice_id=r["invoice_id"],
                invoice_number=r["invoice_number"],
                entry_id=r["entry_id"],
                billed_seconds=r["billed_seconds"],
                amount_minor=r["amount_minor"],
                new_version=r["new_version"],
                now=now,
                tax=Tax(r["tax_rate_id"], r["tax_name"], r["tax_percent"], r["tax_treatment"])
                if r["tax_rate_id"]
                else None,
                credited=r["credited"],
            )
        )
    return found


async def supersede(conn: Connection, by: UUID, rows_: Sequence[tuple[UUID, UUID]]) -> None:
    """The issued invoices' rows of these (invoice, entry) stop holding them: `by` adjusts."""
    await conn.execute(
        "UPDATE invoice_entries e SET active = false, superseded_by = $1 "
        "FROM unnest($2::uuid[], $3::uuid[]) AS r(invoice_id, entry_id) "
        "WHERE e.invoice_id = r.invoice_id AND e.entry_id = r.entry_id",
        by,
        [r[0] for r in rows_],
        [r[1] for r in rows_],
    )


async def acknowledge(conn: Connection, changes: Sequence[BilledChange]) -> None:
    """Revisions that change no billed figure: the issued row records the version it saw."""
    if changes:
        await conn.execute(
            "UPDATE invoice_entries e SET entry_version = r.version "
            "FROM unnest($1::uuid[], $2::uuid[], $3::integer[]) "
            "AS r(invoice_id, entry_id, version) "
            "WHERE e.invoice_id = r.invoice_id AND e.entry_id = r.entry_id",
            [c.invoice_id for c in changes],
            [c.entry_id for c in changes],
            [c.new_version for c in changes],
        )


async def restore_superseded(conn: Connection, by: UUID) -> None:
    """`by` no longer adjusts (deleted draft, voided invoice): the originals hold again."""
    await conn.execute(
        "UPDATE invoice_entries SET active = true, superseded_by = NULL WHERE superseded_by = $1",
        by,
    )


async def is_adjusted(conn: Connection, invoice_id: UUID) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM invoice_entries WHERE invoice_id = $1 "
            "AND superseded_by IS NOT NULL)",
            invoice_id,
        )
    )


async def series_numbers(
    conn: Connection, series: str, prefix: str, year: int
) -> tuple[int, list[dict[str, Any]]]:
    """The series' last sequence value and every document numbered in it."""
    last = await conn.fetchval(
        "SELECT last_value FROM number_series WHERE series = $1 AND prefix = $2 AND year = $3",
        series,
        prefix,
        year,
    )
    like = f"{prefix}-{year}-%"
    if series == "invoice":
        found = await conn.fetch(
            "SELECT number, id, status, issued_at FROM invoices "
            "WHERE tenant_id = current_tenant() AND number LIKE $1 "
            "ORDER BY number",
            like,
        )
    else:
        found = await conn.fetch(
            "SELECT number, id, 'issued' AS status, issued_at FROM credit_notes "
            "WHERE number LIKE $1 ORDER BY number",
            like,
        )
    return int(last or 0), [dict(r) for r in found]


async def adjusted_lines(conn: Connection, invoice_id: UUID) -> set[UUID]:
    """Lines of the invoice with an entry a later invoice adjusts."""
    found = await conn.fetch(
        "SELECT DISTINCT line_id FROM invoice_entries WHERE invoice_id = $1 "
        "AND superseded_by IS NOT NULL",
        invoice_id,
    )
    return {r["line_id"] for r in found}
