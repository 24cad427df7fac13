"""Create, revise and delete (or archive) members."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from servicekit.db import Connection
from servicekit.identity import Identity
from servicekit.outbox import enqueue
from servicekit.records import revised
from servicekit.service import Runtime
from servicekit.versioning import check_version
from timecapture.db import members as rows
from timecapture.db import projects as project_rows
from timecapture.domain.errors import DuplicateValue, MemberNotFound
from timecapture.domain.members import Member
from timecapture.handlers.common import transaction
from timecapture.messaging.outgoing import project_event


async def create_member(runtime: Runtime, identity: Identity, fields: Mapping[str, Any]) -> Member:
    now = runtime.clock()
    member = Member(
        tenant_id=identity.tenant_id,
        id=runtime.new_id(),
        version=1,
        created_at=now,
        updated_at=now,
        archived=False,
        **fields,
    )

    async def write(conn: Connection) -> Member:
        await _check_email(conn, member)
        await rows.insert(conn, member)
        return member

    return await transaction(runtime, identity, write)


async def revise_member(
    runtime: Runtime,
    identity: Identity,
    member_id: UUID,
    changes: Mapping[str, Any],
    *,
    if_match: str | None,
) -> Member:
    """Cost rate changes apply to time logged or revised from now on, not to past entries."""
    now = runtime.clock()

    async def write(conn: Connection) -> Member:
        member = await _locked(conn, member_id, if_match)
        new = revised(member, changes, now)
        if new is not member:
            if new.email != member.email:
                await _check_email(conn, new)
            await rows.update(conn, new)
        return new

    return await transaction(runtime, identity, write)


async def delete_member(
    runtime: Runtime, identity: Identity, member_id: UUID, *, if_match: str | None
) -> Member | None:
    """Delete a member who never logged time or ran a timer; otherwise archive them."""
    now = runtime.clock()

    async def write(conn: Connection) -> Member | None:
        member = await _locked(conn, member_id, if_match)
        if not await rows.has_time(conn, member_id):
            await _drop_from_managers(conn, runtime, member_id, now)
            await rows.delete(conn, member_id)
            return None
        archived = revised(member, {"archived": True}, now)
        if archived is not member:
            await rows.update(conn, archived)
        return archived

    return await transaction(runtime, identity, write)


async def _check_email(conn: Connection, member: Member) -> None:
    if await rows.email_taken(conn, member.email, member.id):
        raise DuplicateValue("email", "a member with this email exists")


async def _drop_from_managers(
    conn: Connection, runtime: Runtime, member_id: UUID, now: datetime
) -> None:
    """A deleted member manages nothing: projects must not keep an id no member has."""
    for project in await project_rows.managed_by(conn, member_id):
        managers = tuple(m for m in project.manager_ids if m != member_id)
        new = revised(project, {"manager_ids": managers}, now)
        await project_rows.update(conn, new)
        await enqueue(conn, project_event(new, event_id=runtime.new_id(), occurred_at=now))


async def _locked(conn: Connection, member_id: UUID, if_match: str | None) -> Member:
    member = await rows.get(conn, member_id, lock=True)
    if member is None:
        raise MemberNotFound(f"no member {member_id}")
    check_version(if_match, member.version)
    return member
