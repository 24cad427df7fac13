"""`/v1/members` routes and their HTTP schemas."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, model_validator

from contracts.money import CurrencyCode
from servicekit import lists
from servicekit.api import (
    DEFAULT_PAGE,
    Cursor,
    Limit,
    Manager,
    Reader,
    RuntimeDep,
    SortParam,
    changes_of,
    versioned,
)
from servicekit.db import tenant_transaction
from servicekit.pagination import Page, SortColumn
from servicekit.versioning import IfMatch
from timecapture.db import members as member_rows
from timecapture.domain.errors import MemberNotFound
from timecapture.domain.members import Member
from timecapture.handlers import members as handlers

router = APIRouter(prefix="/v1/members", tags=["members"])

SORTS = {**lists.NAMED, "email": SortColumn("email", "text")}
Role = Literal["member", "manager"]


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="Full name.")
    email: EmailStr = Field(description="Unique in the tenant.")
    role: Role = Field(
        "member",
        description="Informational. Who may log time for others is decided by the caller's "
        "gateway role and by the projects' `manager_ids`.",
    )
    principal: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Gateway identity (user or API key principal) that acts as this member.",
    )
    cost_rate_minor: int | None = Field(
        None, ge=0, le=10**12, description="What an hour of this member costs, in minor units."
    )
    cost_currency: CurrencyCode | None = Field(None, description="Currency of the cost rate.")

    @model_validator(mode="after")
    def _rate_with_currency(self) -> MemberIn:
        if (self.cost_rate_minor is None) != (self.cost_currency is None):
            raise ValueError("give cost_rate_minor and cost_currency together")
        return self


class MemberPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    email: EmailStr | None = None
    role: Role | None = None
    principal: str | None = Field(None, min_length=1, max_length=200)
    cost_rate_minor: int | None = Field(None, ge=0, le=10**12)
    cost_currency: CurrencyCode | None = None
    archived: bool | None = None


NOT_NULL = {"name", "email", "role", "archived"}


class MemberOut(BaseModel):
    id: UUID
    name: str
    email: str
    role: Role
    principal: str | None
    cost_rate_minor: int | None
    cost_currency: str | None
    archived: bool
    version: int
    created_at: AwareDatetime
    updated_at: AwareDatetime

    @classmethod
    def of(cls, m: Member) -> MemberOut:
        return cls(
            id=m.id,
            name=m.name,
            email=m.email,
            role=m.role,
            principal=m.principal,
            cost_rate_minor=m.cost_rate_minor,
            cost_currency=m.cost_currency,
            archived=m.archived,
            version=m.version,
            created_at=m.created_at,
            updated_at=m.updated_at,
        )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=MemberOut)
async def create_member(
    body: MemberIn, response: Response, runtime: RuntimeDep, identity: Manager
) -> MemberOut:
    member = await handlers.create_member(runtime, identity, body.model_dump())
    versioned(response, member.version, f"/v1/members/{member.id}")
    return MemberOut.of(member)


@router.get("", response_model=Page[MemberOut])
async def list_members(
    runtime: RuntimeDep,
    identity: Reader,
    archived: Annotated[bool | None, Query()] = None,
    role: Annotated[Role | None, Query()] = None,
    q: Annotated[str | None, Query(max_length=200, description="Name contains.")] = None,
    sort: SortParam = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
) -> Page[MemberOut]:
    query = lists.query_of("members", Member)
    lists.equals(query, "archived", archived)
    lists.equals(query, "role", role)
    lists.search(query, "name", q)
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        found = await lists.page(
            conn,
            query,
            Member,
            sort=sort,
            allowed=SORTS,
            default_sort="name",
            cursor=cursor,
            limit=limit,
        )
    return found.map(MemberOut.of)


@router.get("/{member_id}", response_model=MemberOut)
async def get_member(
    member_id: UUID, response: Response, runtime: RuntimeDep, identity: Reader
) -> MemberOut:
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        member = await member_rows.get(conn, member_id)
    if member is None:
        raise MemberNotFound(f"no member {member_id}")
    versioned(response, member.version)
    return MemberOut.of(member)


@router.patch("/{member_id}", response_model=MemberOut)
async def revise_member(
    member_id: UUID,
    body: MemberPatch,
    response: Response,
    runtime: RuntimeDep,
    identity: Manager,
    if_match: IfMatch = None,
) -> MemberOut:
    member = await handlers.revise_member(
        runtime, identity, member_id, changes_of(body, NOT_NULL), if_match=if_match
    )
    versioned(response, member.version)
    return MemberOut.of(member)


@router.delete(
    "/{member_id}",
    response_model=MemberOut,
    responses={204: {"description": "Deleted: the member never logged time."}},
)
async def delete_member(
    member_id: UUID,
    response: Response,
    runtime: RuntimeDep,
    identity: Manager,
    if_match: IfMatch = None,
) -> Any:
    """Deletes a member without time; archives one with time (200)."""
    archived = await handlers.delete_member(runtime, identity, member_id, if_match=if_match)
    if archived is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    versioned(response, archived.version)
    return MemberOut.of(archived)
