"""`POST /v1/tenants`: the operator creates a tenant and gets its first admin key, once."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from gateway.api.api_keys import CreatedKeyOut
from gateway.api.common import Operator, RuntimeDep
from gateway.handlers import keys

router = APIRouter(prefix="/v1/tenants", tags=["tenants"])


class TenantIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="The tenant's display name.")
    key_name: str = Field(
        "first admin key", min_length=1, max_length=200, description="Name of the first key."
    )


class TenantOut(BaseModel):
    id: UUID
    name: str
    created_at: datetime
    api_key: CreatedKeyOut = Field(description="The tenant's first admin key, shown only here.")


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TenantOut)
async def create_tenant(
    _: Operator, body: TenantIn, response: Response, runtime: RuntimeDep
) -> TenantOut:
    """Operator only (`Authorization: Bearer <BILLSTREAM_OPERATOR_KEY>`)."""
    tenant_id, stored, clear = await keys.create_tenant(runtime, body.name, body.key_name)
    response.headers["Cache-Control"] = "no-store"
    return TenantOut(
        id=tenant_id,
        name=body.name,
        created_at=stored.created_at,
        api_key=CreatedKeyOut.of(stored, clear),
    )
