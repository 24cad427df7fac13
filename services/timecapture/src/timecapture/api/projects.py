"""`/v1/projects` routes and their HTTP schemas."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

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
from servicekit.pagination import Page
from servicekit.versioning import IfMatch
from timecapture.db import budgets as budget_rows
from timecapture.db import projects as project_rows
from timecapture.domain.budgets import Usage
from timecapture.domain.errors import ProjectNotFound
from timecapture.domain.projects import Project
from timecapture.handlers import projects as handlers

router = APIRouter(prefix="/v1/projects", tags=["projects"])

Increment = Literal[1, 6, 15, 30]
Mode = Literal["up", "nearest", "down"]
Hours = Annotated[Decimal, Field(ge=0, le=Decimal("9999999999.99"), decimal_places=2)]
Code = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


class ProjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: UUID = Field(description="Client billed for the project's time; fixed.")
    name: str = Field(min_length=1, max_length=200)
    code: Code | None = Field(None, description="Short reference, unique in the tenant.")
    billable_by_default: bool = Field(True, description="`billable` of new entries by default.")
    budget_hours: Hours | None = Field(None, description="Hour budget (all tracked time).")
    budget_amount_minor: int | None = Field(
        None, ge=0, le=10**15, description="Cost budget in minor units of the client's currency."
    )
    rounding_increment_minutes: Increment = Field(1, description="Billed time per entry.")
    rounding_mode: Mode = Field("nearest", description="Direction of the per-entry rounding.")
    manager_ids: list[UUID] = Field(
        default_factory=list, max_length=100, description="Members who manage the project."
    )


class ProjectPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    code: Code | None = None
    billable_by_default: bool | None = None
    budget_hours: Hours | None = None
    budget_amount_minor: int | None = Field(None, ge=0, le=10**15)
    rounding_increment_minutes: Increment | None = None
    rounding_mode: Mode | None = None
    manager_ids: list[UUID] | None = Field(None, max_length=100)
    archived: bool | None = None


NOT_NULL = {
    "name",
    "billable_by_default",
    "rounding_increment_minutes",
    "rounding_mode",
    "manager_ids",
    "archived",
}


class UsageOut(BaseModel):
    """What the project has consumed; `*_percent` are of the budget, when there is one."""

    tracked_seconds: int
    cost_minor: int
    unpriced_seconds: int
    hours_percent: Decimal | None
    amount_percent: Decimal | None


class ProjectOut(BaseModel):
    id: UUID
    client_id: UUID
    name: str
    code: str | None
    billable_by_default: bool
    budget_hours: Decimal | None
    budget_amount_minor: int | None
    rounding_increment_minutes: int
    rounding_mode: Mode
    manager_ids: list[UUID]
    archived: bool
    version: int
    created_at: AwareDatetime
    updated_at: AwareDatetime
    usage: UsageOut | None = Field(None, description="Included on single-project reads.")

    @classmethod
    def of(cls, p: Project, usage: Usage | None = None) -> ProjectOut:
        return cls(
            id=p.id,
            client_id=p.client_id,
            name=p.name,
            code=p.code,
            billable_by_default=p.billable_by_default,
            budget_hours=p.budget_hours,
            budget_amount_minor=p.budget_amount_minor,
            rounding_increment_minutes=p.rounding_increment_minutes,
            rounding_mode=p.rounding_mode,
            manager_ids=list(p.manager_ids),
            archived=p.archived,
            version=p.version,
            created_at=p.created_at,
            updated_at=p.updated_at,
            usage=None if usage is None else _usage_out(p, usage),
        )


def _percent(used: int, budget: int | None) -> Decimal | None:
    if not budget:
        return None
    return (Decimal(used) * 100 / budget).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _usage_out(p: Project, u: Usage) -> UsageOut:
    budget_seconds = None if p.budget_hours is None else int(p.budget_hours * 3600)
    return UsageOut(
        tracked_seconds=u.tracked_seconds,
        cost_minor=u.cost_minor,
        unpriced_seconds=u.unpriced_seconds,
        hours_percent=_percent(u.tracked_seconds, budget_seconds),
        amount_percent=_percent(u.cost_minor, p.budget_amount_minor),
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ProjectOut)
async def create_project(
    body: ProjectIn, response: Response, runtime: RuntimeDep, identity: Manager
) -> ProjectOut:
    fields = body.model_dump()
    fields["manager_ids"] = tuple(fields["manager_ids"])
    project = await handlers.create_project(runtime, identity, fields)
    versioned(response, project.version, f"/v1/projects/{project.id}")
    return ProjectOut.of(project, Usage())


@router.get("", response_model=Page[ProjectOut])
async def list_projects(
    runtime: RuntimeDep,
    identity: Reader,
    client_id: Annotated[UUID | None, Query()] = None,
    archived: Annotated[bool | None, Query()] = None,
    q: Annotated[str | None, Query(max_length=200, description="Name contains.")] = None,
    code: Annotated[str | None, Query(max_length=50)] = None,
    sort: SortParam = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
) -> Page[ProjectOut]:
    query = lists.query_of("projects", Project)
    lists.equals(query, "client_id", client_id)
    lists.equals(query, "archived", archived)
    lists.equals(query, "code", code)
    lists.search(query, "name", q)
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        found = await lists.page(
            conn,
            query,
            Project,
            sort=sort,
            allowed=lists.NAMED,
            default_sort="name",
            cursor=cursor,
            limit=limit,
        )
    return found.map(ProjectOut.of)


@router.get("/{project_id}", response_model=ProjectOut)
async def get_project(
    project_id: UUID, response: Response, runtime: RuntimeDep, identity: Reader
) -> ProjectOut:
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        project = await project_rows.get(conn, project_id)
        usage = await budget_rows.usage(conn, project_id)
    if project is None:
        raise ProjectNotFound(f"no project {project_id}")
    versioned(response, project.version)
    return ProjectOut.of(project, usage)


@router.patch("/{project_id}", response_model=ProjectOut)
async def revise_project(
    project_id: UUID,
    body: ProjectPatch,
    response: Response,
    runtime: RuntimeDep,
    identity: Manager,
    if_match: IfMatch = None,
) -> ProjectOut:
    project = await handlers.revise_project(
        runtime, identity, project_id, changes_of(body, NOT_NULL), if_match=if_match
    )
    versioned(response, project.version)
    return ProjectOut.of(project)


@router.delete(
    "/{project_id}",
    response_model=ProjectOut,
    responses={204: {"description": "Deleted: the project never had time."}},
)
async def delete_project(
    project_id: UUID,
    response: Response,
    runtime: RuntimeDep,
    identity: Manager,
    if_match: IfMatch = None,
) -> Any:
    """Deletes a project without time; archives one with time (200)."""
    archived = await handlers.delete_project(runtime, identity, project_id, if_match=if_match)
    if archived is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    versioned(response, archived.version)
    return ProjectOut.of(archived)
