"""`/v1/rate-rules` routes and their HTTP schemas."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.money import CurrencyCode
from invoicing.api.fields import BillingDate
from invoicing.db import rules as rule_rows
from invoicing.domain.errors import RateRuleNotFound
from invoicing.domain.rates import RateRule, Scope
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
from servicekit.pagination import Page, SortColumn
from servicekit.versioning import IfMatch

router = APIRouter(prefix="/v1/rate-rules", tags=["rate rules"])

Kind = Literal["hourly", "daily", "fixed_fee", "monthly_retainer"]
Amount = Annotated[int, Field(ge=0, le=10**15, description="Minor units of `currency`.")]
HoursPerDay = Annotated[Decimal, Field(gt=0, le=24, max_digits=4, decimal_places=2)]
SORTS = {**lists.CREATED, "effective_from": SortColumn("effective_from", "date")}


class RateRuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind = Field(
        description="hourly or daily prices each entry; fixed_fee bills a project once; "
        "monthly_retainer bills a client or project each month of an invoice's period."
    )
    client_id: UUID | None = Field(None, description="Client rule (or the project's client).")
    project_id: UUID | None = Field(None, description="Project rule.")
    member_id: UUID | None = Field(None, description="Member on a project: needs project_id.")
    currency: CurrencyCode = Field(description="Must be the client's currency when scoped.")
    amount_minor: Amount
    hours_per_day: HoursPerDay = Field(Decimal(8), description="Hours in a day, daily rates.")
    effective_from: BillingDate = Field(description="First day (tenant timezone) the rule prices.")
    effective_to: BillingDate | None = Field(None, description="Last day it prices; open if null.")
    description: str = Field("", max_length=500, description="Printed on fee lines.")


class RateRulePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_minor: Amount | None = None
    hours_per_day: HoursPerDay | None = None
    effective_to: BillingDate | None = Field(None, description="End a rule; null keeps it open.")
    description: str | None = Field(None, max_length=500)


class RateRuleOut(BaseModel):
    id: UUID
    kind: Kind
    scope: Scope
    client_id: UUID | None
    project_id: UUID | None
    member_id: UUID | None
    currency: str
    amount_minor: int
    hours_per_day: Decimal
    effective_from: date
    effective_to: date | None
    description: str
    version: int
    created_at: AwareDatetime
    updated_at: AwareDatetime

    @classmethod
    def of(cls, r: RateRule) -> RateRuleOut:
        return cls.model_validate(r, from_attributes=True)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=RateRuleOut)
async def create_rate_rule(
    body: RateRuleIn, response: Response, runtime: RuntimeDep, identity: Manager
) -> RateRuleOut:
    """The most specific rule in effect on an entry's start date prices it: member on
    project, then project, then client, then the tenant's default for the currency."""
    rule = await catalog.create_rate_rule(runtime, identity, body.model_dump())
    versioned(response, rule.version, f"/v1/rate-rules/{rule.id}")
    return RateRuleOut.of(rule)


@router.get("", response_model=Page[RateRuleOut])
async def list_rate_rules(
    runtime: RuntimeDep,
    identity: Reader,
    client_id: UUID | None = None,
    project_id: UUID | None = None,
    member_id: UUID | None = None,
    kind: Kind | None = None,
    currency: CurrencyCode | None = None,
    in_effect_on: Annotated[date | None, Query(description="Rules in effect on this day.")] = None,
    sort: SortParam = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
) -> Page[RateRuleOut]:
    query = lists.query_of(rule_rows.RATE_RULES, RateRule)
    for column, value in (
        ("client_id", client_id),
        ("project_id", project_id),
        ("member_id", member_id),
        ("kind", kind),
        ("currency", currency),
    ):
        lists.equals(query, column, value)
    if in_effect_on is not None:
        day = query.param(in_effect_on)
        query.filter(f"effective_from <= {day} AND (effective_to IS NULL OR effective_to >= {day})")
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        found = await lists.page(
            conn,
            query,
            RateRule,
            sort=sort,
            allowed=SORTS,
            default_sort="created_at",
            cursor=cursor,
            limit=limit,
        )
    return found.map(RateRuleOut.of)


@router.get("/{rate_rule_id}", response_model=RateRuleOut)
async def get_rate_rule(
    rate_rule_id: UUID, response: Response, runtime: RuntimeDep, identity: Reader
) -> RateRuleOut:
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        rule = await rule_rows.rate_rule(conn, rate_rule_id)
    if rule is None:
        raise RateRuleNotFound(f"no rate rule {rate_rule_id}")
    versioned(response, rule.version)
    return RateRuleOut.of(rule)


@router.patch("/{rate_rule_id}", response_model=RateRuleOut)
async def revise_rate_rule(
    rate_rule_id: UUID,
    body: RateRulePatch,
    response: Response,
    runtime: RuntimeDep,
    identity: Manager,
    if_match: IfMatch = None,
) -> RateRuleOut:
    """Scope, kind and start stay fixed (create a new rule to change them)."""
    changes: dict[str, Any] = changes_of(body, {"amount_minor", "hours_per_day", "description"})
    rule = await catalog.revise_rate_rule(
        runtime, identity, rate_rule_id, changes, if_match=if_match
    )
    versioned(response, rule.version)
    return RateRuleOut.of(rule)


@router.delete("/{rate_rule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_rate_rule(
    rate_rule_id: UUID, runtime: RuntimeDep, identity: Manager, if_match: IfMatch = None
) -> Response:
    await catalog.delete_rate_rule(runtime, identity, rate_rule_id, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
