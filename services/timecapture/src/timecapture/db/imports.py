"""Set-based reads and COPY writes of a bulk import."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from servicekit import rows
from servicekit.db import Connection
from timecapture.domain.time_entries import MemberFacts, ProjectFacts, TimeEntry

# Sorted by id, so two imports touching the same members lock them in one order.
_MEMBERS = """
SELECT id, lower(email) AS email, archived, cost_rate_minor, cost_currency FROM members
WHERE id = ANY($1::uuid[]) OR lower(email) = ANY($2::text[])
ORDER BY id FOR UPDATE
"""

_PROJECTS = """
SELECT p.id, p.code, p.archived, p.client_id, c.archived AS client_archived, c.currency,
       p.billable_by_default, p.manager_ids
FROM projects p JOIN clients c ON c.tenant_id = p.tenant_id AND c.id = p.client_id
WHERE p.id = ANY($1::uuid[]) OR p.code = ANY($2::text[])
FOR KEY SHARE OF p
"""

_EXISTING = """
SELECT member_id, started_at, ended_at FROM time_entries
WHERE member_id = ANY($1::uuid[]) AND deleted_at IS NULL AND started_at < $3
  AND started_at > $2::timestamptz - interval '24 hours' AND ended_at > $2
"""


@dataclass
class Catalog:
    """The members and projects an import refers to, by id and by email / code."""

    members: dict[UUID | str, tuple[UUID, MemberFacts]] = field(default_factory=dict)
    projects: dict[UUID | str, tuple[UUID, ProjectFacts]] = field(default_factory=dict)
    caller_member_id: UUID | None = None


def _split(refs: Iterable[UUID | str]) -> tuple[list[UUID], list[str]]:
    ids = [r for r in refs if isinstance(r, UUID)]
    return ids, [r for r in refs if isinstance(r, str)]


async def catalog(
    conn: Connection,
    member_refs: set[UUID | str],
    project_refs: set[UUID | str],
    principal: str,
) -> Catalog:
    found = Catalog()
    member_ids, emails = _split(member_refs)
    for r in await conn.fetch(_MEMBERS, member_ids, emails):
        member = MemberFacts(r["archived"], r["cost_rate_minor"], r["cost_currency"])
        found.members[r["id"]] = found.members[r["email"]] = (r["id"], member)
    project_ids, codes = _split(project_refs)
    for r in await conn.fetch(_PROJECTS, project_ids, codes):
        facts = ProjectFacts(
            archived=r["archived"],
            client_id=r["client_id"],
            client_archived=r["client_archived"],
            currency=r["currency"],
            billable_by_default=r["billable_by_default"],
            manager_ids=tuple(r["manager_ids"]),
        )
        found.projects[r["id"]] = (r["id"], facts)
        if r["code"] is not None:
            found.projects[r["code"]] = (r["id"], facts)
    found.caller_member_id = await conn.fetchval(
        "SELECT id FROM members WHERE principal = $1", principal
    )
    return found


async def existing_periods(
    conn: Connection, member_ids: Sequence[UUID], start: datetime, end: datetime
) -> list[tuple[UUID, datetime, datetime]]:
    found = await conn.fetch(_EXISTING, list(member_ids), start, end)
    return [(r["member_id"], r["started_at"], r["ended_at"]) for r in found]


async def stored_count(conn: Connection, entry_ids: list[str]) -> int:
    """How many of these ids are stored already (none, unless an attempt committed)."""
    if not entry_ids:
        return 0
    count: int = await conn.fetchval(
        "SELECT count(*) FROM time_entries WHERE id = ANY($1::uuid[])", entry_ids
    )
    return count


async def copy_entries(conn: Connection, records: list[tuple[Any, ...]]) -> None:
    """COPY into a temporary table, then one INSERT: Postgres refuses COPY into a table with
    row-level security, and the INSERT still checks every row's tenant."""
    columns = rows.columns(TimeEntry)
    await conn.execute(
        "CREATE TEMPORARY TABLE import_entries (LIKE time_entries INCLUDING DEFAULTS)"
        " ON COMMIT DROP"
    )
    await conn.copy_records_to_table("import_entries", records=records, columns=columns)
    names = ", ".join(columns)
    await conn.execute(f"INSERT INTO time_entries ({names}) SELECT {names} FROM import_entries")
