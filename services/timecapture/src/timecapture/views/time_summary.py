"""Time totals per day, week or month, by member, project or client, computed in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from uuid import UUID

from servicekit.db import Connection

Period = Literal["day", "week", "month"]
GroupBy = Literal["member", "project", "client"]

_GROUP_COLUMN = {"member": "e.member_id", "project": "e.project_id", "client": "p.client_id"}

# Seconds are each entry's whole seconds (its duration_seconds), summed. Periods are calendar
# periods in the caller's timezone (weeks start on Monday, ISO 8601); an entry counts in the
# period where it starts.
_SQL = """
SELECT date_trunc('{period}', e.started_at AT TIME ZONE $1)::date AS period_start,
       {group} AS group_id,
       sum(floor(extract(epoch FROM e.ended_at - e.started_at)))
           FILTER (WHERE e.billable)::bigint AS billable_seconds,
       sum(floor(extract(epoch FROM e.ended_at - e.started_at)))
           FILTER (WHERE NOT e.billable)::bigint AS non_billable_seconds,
       count(*) AS entries
FROM time_entries e
JOIN projects p ON p.tenant_id = e.tenant_id AND p.id = e.project_id
WHERE e.deleted_at IS NULL AND e.started_at >= $2 AND e.started_at < $3
  AND ($4::uuid IS NULL OR e.member_id = $4)
  AND ($5::uuid IS NULL OR e.project_id = $5)
  AND ($6::uuid IS NULL OR p.client_id = $6)
GROUP BY 1, 2
ORDER BY 1, 2
"""


@dataclass(frozen=True, slots=True)
class SummaryRow:
    period_start: date
    group_id: UUID
    billable_seconds: int
    non_billable_seconds: int
    entries: int


async def time_summary(
    conn: Connection,
    *,
    period: Period,
    group_by: GroupBy,
    timezone: str,
    start: datetime,
    end: datetime,
    member_id: UUID | None,
    project_id: UUID | None,
    client_id: UUID | None,
) -> list[SummaryRow]:
    sql = _SQL.format(period=period, group=_GROUP_COLUMN[group_by])
    found = await conn.fetch(sql, timezone, start, end, member_id, project_id, client_id)
    return [
        SummaryRow(
            period_start=r["period_start"],
            group_id=r["group_id"],
            billable_seconds=r["billable_seconds"] or 0,
            non_billable_seconds=r["non_billable_seconds"] or 0,
            entries=r["entries"],
        )
        for r in found
    ]
