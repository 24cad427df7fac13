"""One async function per command."""

from __future__ import annotations

from collections.abc import Sequence

from invoicing.db import ledger
from invoicing.domain.ledger import RecordTimeEntry, latest_per_entry
from servicekit.db import Connection


async def record_time_entry(conn: Connection, cmd: RecordTimeEntry) -> None:
    """Apply a logged, revised or deleted entry to the unbilled ledger."""
    await ledger.record(conn, cmd)


async def record_time_entries(conn: Connection, cmds: Sequence[RecordTimeEntry]) -> None:
    """Apply many, with the same effect as `record_time_entry` on each in order."""
    await ledger.record_many(conn, latest_per_entry(cmds))
