"""Create, revise and delete (or archive) projects; every change publishes `project.changed`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from servicekit.db import Connection
from servicekit.identity import Identity
from servicekit.outbox import enqueue
from servicekit.records import revised
from servicekit.service import Runtime
from servicekit.versioning import check_version
from timecapture.db import budgets as budget_rows
from timecapture.db import clients as client_rows
from timecapture.db import projects as rows
from timecapture.domain.budgets import Usage
from timecapture.domain.errors import ProjectInvalid, ProjectNotFound
from timecapture.domain.projects import Project
from timecapture.handlers.common import announce_crossings, transaction
from timecapture.messaging.outgoing import project_event

_UNKNOWN_MEMBERS = (
    "SELECT array_agg(x) FROM unnest($1::uuid[]) AS x WHERE x NOT IN (SELECT id FROM members)"
)


async def create_project(
    runtime: Runtime, identity: Identity, fields: Mapping[str, Any]
) -> Project:
    now = runtime.clock()
    project = Project(
        tenant_id=identity.tenant_id,
        id=runtime.new_id(),
        version=1,
        created_at=now,
        updated_at=now,
        archived=False,
        **fields,
    )

    async def write(conn: Connection) -> Project:
        client = await client_rows.referenced(conn, project.client_id)
        if client is None:
            raise ProjectInvalid("client_id", f"no client {project.client_id} in this tenant")
        if client.archived:
            raise ProjectInvalid("client_id", "the client is archived")
        await _check_managers(conn, project)
        if await rows.insert(conn, project):
            await budget_rows.create_usage(conn, project.id)
            await enqueue(conn, project_event(project, event_id=runtime.new_id(), occurred_at=now))
        return project

    return await transaction(runtime, identity, write)


async def revise_project(
    runtime: Runtime,
    identity: Identity,
    project_id: UUID,
    changes: Mapping[str, Any],
    *,
    if_match: str | None,
) -> Project:
    """A changed budget is checked against what is already used, so 80 % / 100 % fire now."""
    now = runtime.clock()

    async def write(conn: Connection) -> Project:
        project = await _locked(conn, project_id, if_match)
        new = revised(project, changes, now)
        if new is project:
            return project
        await _check_managers(conn, new, project.manager_ids)
        await rows.update(conn, new)
        await enqueue(conn, project_event(new, event_id=runtime.new_id(), occurred_at=now))
        if (new.budget_hours, new.budget_amount_minor) != (
            project.budget_hours,
            project.budget_amount_minor,
        ):
            change = await budget_rows.add_usage(conn, project_id, Usage())
            await announce_crossings(
                conn,
                runtime,
                new.tenant_id,
                project_id,
                change,
                entry_id=None,
                now=now,
                check_all=True,
            )
        return new

    return await transaction(runtime, identity, write)


async def delete_project(
    runtime: Runtime, identity: Identity, project_id: UUID, *, if_match: str | None
) -> Project | None:
    """Delete a project that never had time or timers; otherwise archive it."""
    now = runtime.clock()

    async def write(conn: Connection) -> Project | None:
        project = await _locked(conn, project_id, if_match)
        if await rows.has_time(conn, project_id):
            archived = revised(project, {"archived": True}, now)
            if archived is not project:
                await rows.update(conn, archived)
                await enqueue(
                    conn, project_event(archived, event_id=runtime.new_id(), occurred_at=now)
                )
            return archived
        await rows.delete(conn, project_id)
        await enqueue(
            conn, project_event(project, event_id=runtime.new_id(), occurred_at=now, deleted=True)
        )
        return None

    return await transaction(runtime, identity, write)


async def _check_managers(conn: Connection, project: Project, known: tuple[UUID, ...] = ()) -> None:
    """Managers added (those not in `known`) must be members of the tenant."""
    added = [m for m in project.manager_ids if m not in known]
    if not added:
        return
    unknown = await conn.fetchval(_UNKNOWN_MEMBERS, added)
    if unknown:
        index = project.manager_ids.index(unknown[0])
        raise ProjectInvalid(f"manager_ids/{index}", f"no member {unknown[0]} in this tenant")


async def _locked(conn: Connection, project_id: UUID, if_match: str | None) -> Project:
    project = await rows.get(conn, project_id, lock=True)
    if project is None:
        raise ProjectNotFound(f"no project {project_id}")
    check_version(if_match, project.version)
    return project
