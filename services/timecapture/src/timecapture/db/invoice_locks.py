"""Invoices seen on `invoice-issued` and `invoice-voided`, whichever came first."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from servicekit.db import Connection

# Returns the void time, if the void arrived before the issue.
_ISSUED = """
INSERT INTO invoice_locks (tenant_id, invoice_id, issued_at) VALUES (current_tenant(), $1, $2)
ON CONFLICT (tenant_id, invoice_id) DO UPDATE SET issued_at = EXCLUDED.issued_at
RETURNING voided_at
"""

# The same for many invoices (each once): those whose void came first.
_ISSUED_MANY = """
INSERT INTO invoice_locks (tenant_id, invoice_id, issued_at)
SELECT current_tenant(), * FROM unnest($1::uuid[], $2::timestamptz[])
ON CONFLICT (tenant_id, invoice_id) DO UPDATE SET issued_at = EXCLUDED.issued_at
RETURNING invoice_id, voided_at
"""

_VOIDED = """
INSERT INTO invoice_locks (tenant_id, invoice_id, voided_at) VALUES (current_tenant(), $1, $2)
ON CONFLICT (tenant_id, invoice_id) DO UPDATE SET voided_at = EXCLUDED.voided_at
"""


async def record_issued(conn: Connection, invoice_id: UUID, issued_at: datetime) -> bool:
    """Remember the issue; False when the invoice was already voided."""
    voided_at = await conn.fetchval(_ISSUED, invoice_id, issued_at)
    return voided_at is None


async def record_issued_many(conn: Connection, issued: dict[UUID, datetime]) -> set[UUID]:
    """Remember several issues in one statement; the invoices already voided."""
    found = await conn.fetch(_ISSUED_MANY, list(issued), list(issued.values()))
    return {r["invoice_id"] for r in found if r["voided_at"] is not None}


async def record_voided(conn: Connection, invoice_id: UUID, voided_at: datetime) -> None:
    await conn.execute(_VOIDED, invoice_id, voided_at)
