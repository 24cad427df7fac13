from __future__ import annotations

from uuid import UUID

from invoicing.domain.settings import InvoiceSettings
from servicekit import rows
from servicekit.db import Connection

_COLUMNS = rows.columns(InvoiceSettings)
UPSERT = f"""
INSERT INTO invoice_settings ({", ".join(_COLUMNS)})
VALUES ({", ".join(f"${i}" for i in range(1, len(_COLUMNS) + 1))})
ON CONFLICT (tenant_id) DO UPDATE SET
{", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS if c != "tenant_id")}
"""


async def get(conn: Connection, tenant_id: UUID, *, lock: bool = False) -> InvoiceSettings:
    sql = f"SELECT {', '.join(_COLUMNS)} FROM invoice_settings WHERE tenant_id = $1"
    row = await conn.fetchrow(sql + (" FOR UPDATE" if lock else ""), tenant_id)
    return InvoiceSettings(tenant_id) if row is None else rows.from_row(InvoiceSettings, row)


async def put(conn: Connection, settings: InvoiceSettings) -> None:
    await conn.execute(UPSERT, *rows.values(settings))
