"""`/v1/clients` routes and their HTTP schemas."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field

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
from servicekit.pagination import Page
from servicekit.versioning import IfMatch
from timecapture.db import clients as client_rows
from timecapture.domain.clients import Client
from timecapture.domain.errors import ClientNotFound
from timecapture.handlers import clients as handlers

router = APIRouter(prefix="/v1/clients", tags=["clients"])

Name = Annotated[str, Field(min_length=1, max_length=200)]
Emails = Annotated[list[EmailStr], Field(max_length=20)]


class ClientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name = Field(description="Display and invoice name, unique in the tenant.")
    contact_emails: Emails = Field(default_factory=list, description="Where invoices go.")
    billing_address: str | None = Field(None, max_length=1000, description="Postal address.")
    currency: CurrencyCode = Field(description="ISO 4217 code the client is invoiced in.")
    payment_terms_days: int = Field(30, ge=0, le=365, description="Days from issue to due date.")
    tax_id: str | None = Field(None, max_length=50, description="Client's VAT or tax number.")
    default_tax_rate_id: UUID | None = Field(None, description="Tax rate (invoicing) by default.")
    notes: str = Field("", max_length=5000, description="Internal notes, never printed.")


class ClientPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    contact_emails: Emails | None = None
    billing_address: str | None = Field(None, max_length=1000)
    currency: CurrencyCode | None = Field(None, description="Fixed once the client has time.")
    payment_terms_days: int | None = Field(None, ge=0, le=365)
    tax_id: str | None = Field(None, max_length=50)
    default_tax_rate_id: UUID | None = None
    notes: str | None = Field(None, max_length=5000)
    archived: bool | None = Field(None, description="Archived clients take no new time.")


NOT_NULL = {"name", "contact_emails", "currency", "payment_terms_days", "notes", "archived"}


class ClientOut(BaseModel):
    id: UUID
    name: str
    contact_emails: list[str]
    billing_address: str | None
    currency: str
    payment_terms_days: int
    tax_id: str | None
    default_tax_rate_id: UUID | None
    notes: str
    archived: bool
    version: int
    created_at: AwareDatetime
    updated_at: AwareDatetime

    @classmethod
    def of(cls, c: Client) -> ClientOut:
        return cls(
            id=c.id,
            name=c.name,
            contact_emails=list(c.contact_emails),
            billing_address=c.billing_address,
            currency=c.currency,
            payment_terms_days=c.payment_terms_days,
            tax_id=c.tax_id,
            default_tax_rate_id=c.default_tax_rate_id,
            notes=c.notes,
            archived=c.archived,
            version=c.version,
            created_at=c.created_at,
            updated_at=c.updated_at,
        )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ClientOut)
async def create_client(
    body: ClientIn, response: Response, runtime: RuntimeDep, identity: Manager
) -> ClientOut:
    fields = body.model_dump()
    fields["contact_emails"] = tuple(fields["contact_emails"])
    client = await handlers.create_client(runtime, identity, fields)
    versioned(response, client.version, f"/v1/clients/{client.id}")
    return ClientOut.of(client)


@router.get("", response_model=Page[ClientOut])
async def list_clients(
    runtime: RuntimeDep,
    identity: Reader,
    archived: Annotated[bool | None, Query(description="Only archived, or only active.")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Name contains.")] = None,
    currency: Annotated[CurrencyCode | None, Query()] = None,
    sort: SortParam = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
) -> Page[ClientOut]:
    query = lists.query_of("clients", Client)
    lists.equals(query, "archived", archived)
    lists.equals(query, "currency", currency)
    lists.search(query, "name", q)
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        found = await lists.page(
            conn,
            query,
            Client,
            sort=sort,
            allowed=lists.NAMED,
            default_sort="name",
            cursor=cursor,
            limit=limit,
        )
    return found.map(ClientOut.of)


@router.get("/{client_id}", response_model=ClientOut)
async def get_client(
    client_id: UUID, response: Response, runtime: RuntimeDep, identity: Reader
) -> ClientOut:
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        client = await client_rows.get(conn, client_id)
    if client is None:
        raise ClientNotFound(f"no client {client_id}")
    versioned(response, client.version)
    return ClientOut.of(client)


@router.patch("/{client_id}", response_model=ClientOut)
async def revise_client(
    client_id: UUID,
    body: ClientPatch,
    response: Response,
    runtime: RuntimeDep,
    identity: Manager,
    if_match: IfMatch = None,
) -> ClientOut:
    client = await handlers.revise_client(
        runtime, identity, client_id, changes_of(body, NOT_NULL), if_match=if_match
    )
    versioned(response, client.version)
    return ClientOut.of(client)


@router.delete(
    "/{client_id}",
    response_model=ClientOut,
    responses={204: {"description": "Deleted: the client never had time."}},
)
async def delete_client(
    client_id: UUID,
    response: Response,
    runtime: RuntimeDep,
    identity: Manager,
    if_match: IfMatch = None,
) -> Any:
    """Deletes a client without time (and its projects); archives one with time (200)."""
    archived = await handlers.delete_client(runtime, identity, client_id, if_match=if_match)
    if archived is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    versioned(response, archived.version)
    return ClientOut.of(archived)
