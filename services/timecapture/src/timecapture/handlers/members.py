"""Create, revise and delete (or archive) members."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from servicekit.db import Connection
from servicekit.identity import Identity
from servicekit.service import Runtime
from servicekit.versioning import check_version
from timecapture.db import members as rows
from timecapture.domain.errors import MemberNotFound
from timecapture.domain.members import Member
from timecapture.domain.records import revised
from timecapture.handlers.common import transaction


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
            await rows.delete(conn, member_id)
            return None
        archived = revised(member, {"archived": True}, now)
        if archived is not member:
            await rows.update(conn, archived)
        return archived

    return await transaction(runtime, identity, write)


async def _locked(conn: Connection, member_id: UUID, if_match: str | None) -> Member:
    member = await rows.get(conn, member_id, lock=True)
    if member is None:
        raise MemberNotFound(f"no member {member_id}")
    check_version(if_match, member.version)
    return member
