"""`/v1/api-keys`: a tenant's admins create, list (prefix only), rotate and revoke keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field

from gateway.api.common import Admin, RuntimeDep
from gateway.domain.api_keys import StoredKey
from gateway.handlers import keys
from servicekit.identity import Role
from servicekit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])


class KeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="What the key is for.")
    role: Role = Field(description="What the key may do: admin, manager, member or viewer.")


class KeyOut(BaseModel):
    id: UUID
    name: str
    prefix: str = Field(description="The public part of the key; the rest is never shown.")
    role: Role
    created_at: datetime
    revoked_at: datetime | None
    replaced_by: UUID | None = Field(description="The key that replaced it, if rotated.")

    @classmethod
    def of(cls, k: StoredKey) -> KeyOut:
        return cls(
            id=k.id,
            name=k.name,
            prefix=k.prefix,
            role=k.role,
            created_at=k.created_at,
            revoked_at=k.revoked_at,
            replaced_by=k.replaced_by,
        )


class CreatedKeyOut(KeyOut):
    key: str = Field(description="The whole key. Shown once: only its hash is stored.")

    @classmethod
    def of(cls, k: StoredKey, clear: str) -> CreatedKeyOut:  # type: ignore[override]
        return cls(**KeyOut.of(k).model_dump(), key=clear)


def _created(response: Response, stored: StoredKey, clear: str) -> CreatedKeyOut:
    response.headers["Location"] = f"/v1/api-keys/{stored.id}"
    response.headers["Cache-Control"] = "no-store"
    return CreatedKeyOut.of(stored, clear)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CreatedKeyOut)
async def create_api_key(
    body: KeyIn, response: Response, runtime: RuntimeDep, identity: Admin
) -> CreatedKeyOut:
    stored, clear = await keys.create_key(runtime, identity, body.name, body.role)
    return _created(response, stored, clear)


@router.get("", response_model=Page[KeyOut])
async def list_api_keys(
    runtime: RuntimeDep,
    identity: Admin,
    sort: Annotated[str | None, Query(description="`created_at` or `-created_at`.")] = None,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the last page.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[KeyOut]:
    found = await keys.list_keys(runtime, identity, sort=sort, cursor=cursor, limit=limit)
    return found.map(KeyOut.of)


@router.get("/{key_id}", response_model=KeyOut)
async def get_api_key(key_id: UUID, runtime: RuntimeDep, identity: Admin) -> KeyOut:
    return KeyOut.of(await keys.get_key(runtime, identity, key_id))


@router.post("/{key_id}/rotate", status_code=status.HTTP_201_CREATED, response_model=CreatedKeyOut)
async def rotate_api_key(
    key_id: UUID, response: Response, runtime: RuntimeDep, identity: Admin
) -> CreatedKeyOut:
    """A new key with the same name and role; the old one stops working at once."""
    stored, clear = await keys.rotate_key(runtime, identity, key_id)
    return _created(response, stored, clear)


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_api_key(key_id: UUID, runtime: RuntimeDep, identity: Admin) -> Response:
    await keys.revoke_key(runtime, identity, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
