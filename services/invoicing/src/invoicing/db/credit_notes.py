from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from invoicing.domain.credit_notes import Credited, CreditNote, CreditNoteLine
from servicekit import rows
from servicekit.db import Connection

NOTES = "credit_notes"
_NOTE_COLS = rows.columns(CreditNote)
_LINE_COLS = rows.columns(CreditNoteLine)
_JSON_COLS = ("client_snapshot", "seller_snapshot")


def note_of(row: Any) -> CreditNote:
    values = {c: row[c] for c in _NOTE_COLS}
    for col in _JSON_COLS:
        if isinstance(values[col], str):
            values[col] = json.loads(values[col])
    return CreditNote(**values)


def _insert_sql(table: str, cols: Sequence[str]) -> str:
    placeholders = ", ".join(f"${i}" for i in range(1, len(cols) + 1))
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({placeholders})"


async def insert(conn: Connection, note: CreditNote, lines: Sequence[CreditNoteLine]) -> None:
    values = [
        json.dumps(getattr(note, c)) if c in _JSON_COLS else getattr(note, c) for c in _NOTE_COLS
    ]
    await conn.execute(_insert_sql(NOTES, _NOTE_COLS), *values)
    await conn.executemany(
        _insert_sql("credit_note_lines", _LINE_COLS), [rows.values(line) for line in lines]
    )


async def get(conn: Connection, note_id: UUID) -> CreditNote | None:
    row = await conn.fetchrow(rows.select_sql(NOTES, CreditNote), note_id)
    return None if row is None else note_of(row)


async def lines_of(conn: Connection, note_id: UUID) -> list[CreditNoteLine]:
    found = await conn.fetch(
        f"SELECT {', '.join(_LINE_COLS)} FROM credit_note_lines WHERE credit_note_id = $1 "
        "ORDER BY position",
        note_id,
    )
    return [rows.from_row(CreditNoteLine, r) for r in found]


async def credited_by_line(conn: Connection, invoice_id: UUID) -> dict[UUID, Credited]:
    found = await conn.fetch(
        "SELECT l.invoice_line_id, sum(l.amount_minor)::bigint AS amount, "
        "sum(l.tax_minor)::bigint AS tax FROM credit_note_lines l "
        "JOIN credit_notes n ON n.tenant_id = l.tenant_id AND n.id = l.credit_note_id "
        "WHERE n.invoice_id = $1 GROUP BY l.invoice_line_id",
        invoice_id,
    )
    return {r["invoice_line_id"]: Credited(r["amount"], r["tax"]) for r in found}
