"""CSV export of time entries, streamed from a server-side cursor.

Columns are those of the import format, so an export can be imported elsewhere. Cells that a
spreadsheet would run as a formula (starting with = + - @ or a tab) are prefixed with `'`,
which the importer removes again.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from servicekit.db import Pool, tenant_transaction
from timecapture.domain.imports import FORMULA_STARTS

COLUMNS = (
    "entry_id",
    "member_id",
    "email",
    "project_id",
    "project_code",
    "client_id",
    "start_date",
    "start_time",
    "end_date",
    "end_time",
    "started_at",
    "ended_at",
    "duration",
    "billable",
    "task",
    "description",
    "tags",
    "invoice_id",
)
CHUNK_ROWS = 1000

_SQL = """
SELECT e.id, e.member_id, m.email, e.project_id, p.code, p.client_id, e.started_at,
       e.ended_at, e.billable, e.task, e.description, e.tags, e.invoice_id
FROM time_entries e
JOIN projects p ON p.tenant_id = e.tenant_id AND p.id = e.project_id
JOIN members m ON m.tenant_id = e.tenant_id AND m.id = e.member_id
WHERE e.deleted_at IS NULL
  AND ($1::timestamptz IS NULL OR e.started_at >= $1)
  AND ($2::timestamptz IS NULL OR e.started_at < $2)
  AND ($3::uuid IS NULL OR e.member_id = $3)
  AND ($4::uuid IS NULL OR e.project_id = $4)
  AND ($5::uuid IS NULL OR p.client_id = $5)
  AND ($6::boolean IS NULL OR e.billable = $6)
ORDER BY e.started_at, e.id
"""


@dataclass(frozen=True, slots=True)
class ExportFilter:
    started_from: datetime | None = None
    started_to: datetime | None = None
    member_id: UUID | None = None
    project_id: UUID | None = None
    client_id: UUID | None = None
    billable: bool | None = None


def safe_cell(value: str) -> str:
    """A leading `'` guards a cell a spreadsheet would run as a formula; a value that starts
    with `'` itself gets one too, so the importer's removal of one gives it back unchanged."""
    return "'" + value if value.startswith((*FORMULA_STARTS, "'")) else value


def _duration(seconds: int) -> str:
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


async def export_csv(
    pool: Pool, tenant_id: UUID, where: ExportFilter, zone: ZoneInfo
) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\r\n")
    out.writerow(COLUMNS)
    args = (
        where.started_from,
        where.started_to,
        where.member_id,
        where.project_id,
        where.client_id,
        where.billable,
    )
    async with tenant_transaction(pool, tenant_id) as conn:
        count = 0
        async for r in conn.cursor(_SQL, *args, prefetch=CHUNK_ROWS):
            start, end = r["started_at"].astimezone(zone), r["ended_at"].astimezone(zone)
            out.writerow(
                (
                    r["id"],
                    r["member_id"],
                    r["email"],
                    r["project_id"],
                    r["code"] or "",
                    r["client_id"],
                    start.date().isoformat(),
                    start.time().isoformat(),
                    end.date().isoformat(),
                    end.time().isoformat(),
                    # The instants too, with their offset: the importer prefers them, so an
                    # entry in the hour a clock change repeats comes back where it was.
                    start.isoformat(),
                    end.isoformat(),
                    _duration(int((r["ended_at"] - r["started_at"]).total_seconds())),
                    "yes" if r["billable"] else "no",
                    safe_cell(r["task"] or ""),
                    safe_cell(r["description"]),
                    safe_cell(",".join(r["tags"])),
                    r["invoice_id"] or "",
                )
            )
            count += 1
            if count % CHUNK_ROWS == 0:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue().encode()
