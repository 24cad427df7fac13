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

_VOIDED = """
INSERT INTO invoice_locks (tenant_id, invoice_id, voided_at) VALUES (current_tenant(), $1, $2)
ON CONFLICT (tenant_id, invoice_id) DO UPDATE SET voided_at = EXCLUDED.voided_at
"""


async def record_issued(conn: Connection, invoice_id: UUID, issued_at: datetime) -> bool:
    """Remember the issue; False when the invoice was already voided."""
    voided_at = await conn.fetchval(_ISSUED, invoice_id, issued_at)
    return voided_at is None


async def record_voided(conn: Connection, invoice_id: UUID, voided_at: datetime) -> None:
    await conn.execute(_VOIDED, invoice_id, voided_at)
