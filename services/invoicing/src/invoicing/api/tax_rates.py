"""`/v1/tax-rates` routes and their HTTP schemas."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from invoicing.db import rules as rule_rows
from invoicing.domain.errors import TaxRateNotFound
from invoicing.domain.taxes import TaxRate
from invoicing.handlers import catalog
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

router = APIRouter(prefix="/v1/tax-rates", tags=["tax rates"])

Treatment = Literal["standard", "zero_rated", "reverse_charge", "exempt"]
Percent = Annotated[Decimal, Field(ge=0, le=100, max_digits=7, decimal_places=4)]


class TaxRateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description='Printed label, e.g. "VAT 20%".')
    percent: Percent = Field(description='Percent as a decimal string, e.g. "20" or "8.875".')
    treatment: Treatment = Field(
        "standard",
        description="standard charges tax; zero_rated, exempt and reverse_charge charge none "
        "and are marked on the line.",
    )


class TaxRatePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=100)
    percent: Percent | None = None
    treatment: Treatment | None = None
    archived: bool | None = Field(None, description="Archived rates are not offered for drafts.")


class TaxRateOut(BaseModel):
    id: UUID
    name: str
    percent: Decimal
    treatment: Treatment
    archived: bool
    version: int
    created_at: AwareDatetime
    updated_at: AwareDatetime

    @classmethod
    def of(cls, r: TaxRate) -> TaxRateOut:
        return cls.model_validate(r, from_attributes=True)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TaxRateOut)
async def create_tax_rate(
    body: TaxRateIn, response: Response, runtime: RuntimeDep, identity: Manager
) -> TaxRateOut:
    rate = await catalog.create_tax_rate(runtime, identity, body.model_dump())
    versioned(response, rate.version, f"/v1/tax-rates/{rate.id}")
    return TaxRateOut.of(rate)


@router.get("", response_model=Page[TaxRateOut])
async def list_tax_rates(
    runtime: RuntimeDep,
    identity: Reader,
    archived: Annotated[bool | None, Query(description="Only archived, or only active.")] = None,
    sort: SortParam = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
) -> Page[TaxRateOut]:
    query = lists.query_of(rule_rows.TAX_RATES, TaxRate)
    lists.equals(query, "archived", archived)
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        found = await lists.page(
            conn,
            query,
            TaxRate,
            sort=sort,
            allowed=lists.NAMED,
            default_sort="name",
            cursor=cursor,
            limit=limit,
        )
    return found.map(TaxRateOut.of)


@router.get("/{tax_rate_id}", response_model=TaxRateOut)
async def get_tax_rate(
    tax_rate_id: UUID, response: Response, runtime: RuntimeDep, identity: Reader
) -> TaxRateOut:
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        rate = await rule_rows.tax_rate(conn, tax_rate_id)
    if rate is None:
        raise TaxRateNotFound(f"no tax rate {tax_rate_id}")
    versioned(response, rate.version)
    return TaxRateOut.of(rate)


@router.patch("/{tax_rate_id}", response_model=TaxRateOut)
async def revise_tax_rate(
    tax_rate_id: UUID,
    body: TaxRatePatch,
    response: Response,
    runtime: RuntimeDep,
    identity: Manager,
    if_match: IfMatch = None,
) -> TaxRateOut:
    """Changes apply to drafts made later; drafted and issued lines keep the rate they copied."""
    changes = changes_of(body, {"name", "percent", "treatment", "archived"})
    rate = await catalog.revise_tax_rate(runtime, identity, tax_rate_id, changes, if_match=if_match)
    versioned(response, rate.version)
    return TaxRateOut.of(rate)
