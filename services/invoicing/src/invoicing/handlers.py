"""One async function per command."""

from __future__ import annotations

from invoicing.db import ledger
from invoicing.domain.ledger import RecordTimeEntry
from servicekit.db import Connection


async def record_time_entry(conn: Connection, cmd: RecordTimeEntry) -> None:
    """Apply a logged, revised or deleted entry to the unbilled ledger."""
    await ledger.record(conn, cmd)
