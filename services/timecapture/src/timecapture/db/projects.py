"""Project rows."""

from __future__ import annotations

from uuid import UUID

from servicekit import rows
from servicekit.db import Connection
from timecapture.domain.projects import Project

TABLE = "projects"


async def insert(conn: Connection, project: Project) -> bool:
    return await rows.insert(conn, TABLE, project)


async def update(conn: Connection, project: Project) -> None:
    await rows.update(conn, TABLE, project)


async def get(conn: Connection, project_id: UUID, *, lock: bool = False) -> Project | None:
    return await rows.fetch(conn, TABLE, Project, project_id, lock=lock)


async def of_client(conn: Connection, client_id: UUID) -> list[Project]:
    found = await conn.fetch(
        f"SELECT {', '.join(rows.columns(Project))} FROM projects WHERE client_id = $1 FOR UPDATE",
        client_id,
    )
    return [rows.from_row(Project, r) for r in found]


async def managed_by(conn: Connection, member_id: UUID) -> list[Project]:
    """Projects listing the member in `manager_ids`, locked for update."""
    found = await conn.fetch(
        f"SELECT {', '.join(rows.columns(Project))} FROM projects"
        " WHERE $1 = ANY(manager_ids) FOR UPDATE",
        member_id,
    )
    return [rows.from_row(Project, r) for r in found]


async def has_time(conn: Connection, project_id: UUID) -> bool:
    """Whether time was ever logged or a timer run on the project."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM time_entries WHERE project_id = $1)"
            " OR EXISTS (SELECT 1 FROM timers WHERE project_id = $1)",
            project_id,
        )
    )


async def delete(conn: Connection, project_id: UUID) -> None:
    await conn.execute("DELETE FROM projects WHERE id = $1", project_id)
