"""`/v1/users` (admins) and `/v1/auth/token`, `/v1/auth/refresh` (anyone with credentials)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from gateway.api.common import Admin, RuntimeDep
from gateway.domain.users import User
from gateway.handlers import limits, users
from servicekit.api import versioned
from servicekit.identity import Role
from servicekit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from servicekit.problems import FieldInvalid
from servicekit.versioning import IfMatch

router = APIRouter(tags=["users"])


class UserIn(BaseModel):
    email: EmailStr
    name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=12, max_length=256, description="At least 12 characters.")
    role: Role


class UserOut(BaseModel):
    id: UUID
    email: str
    name: str
    role: Role
    created_at: datetime
    disabled_at: datetime | None
    version: int

    @classmethod
    def of(cls, u: User) -> UserOut:
        return cls(
            id=u.id,
            email=u.email,
            name=u.name,
            role=u.role,
            created_at=u.created_at,
            disabled_at=u.disabled_at,
            version=u.version,
        )


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    role: Role | None = Field(
        None, description="Applies within 5 s, to the access tokens already out too."
    )
    disabled: bool | None = Field(
        None,
        description="A disabled user cannot log in; their refresh tokens end at once and "
        "their access tokens within 5 s.",
    )
    password: str | None = Field(
        None, min_length=12, max_length=256, description="A new password; ends their sessions."
    )


class LoginIn(BaseModel):
    tenant_id: UUID
    email: EmailStr
    password: str = Field(min_length=1, max_length=256)


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=200)


class TokensOut(BaseModel):
    access_token: str = Field(description="Send as `Authorization: Bearer <access_token>`.")
    token_type: str = "Bearer"  # noqa: S105 (the scheme's name, not a secret)
    expires_in: int = Field(description="Seconds the access token stays valid.")
    refresh_token: str = Field(description="Single use: POST it to /v1/auth/refresh.")


@router.post("/v1/users", status_code=status.HTTP_201_CREATED, response_model=UserOut)
async def create_user(
    body: UserIn, response: Response, runtime: RuntimeDep, identity: Admin
) -> UserOut:
    user = await users.create_user(
        runtime,
        identity,
        email=str(body.email).lower(),
        name=body.name,
        password=body.password,
        role=body.role,
    )
    return UserOut.of(user)


@router.get("/v1/users", response_model=Page[UserOut])
async def list_users(
    runtime: RuntimeDep,
    identity: Admin,
    sort: Annotated[
        str | None, Query(description="`created_at` or `email`, `-` to reverse.")
    ] = None,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the last page.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[UserOut]:
    found = await users.list_users(runtime, identity, sort=sort, cursor=cursor, limit=limit)
    return found.map(UserOut.of)


@router.get("/v1/users/{user_id}", response_model=UserOut)
async def get_user(
    user_id: UUID, response: Response, runtime: RuntimeDep, identity: Admin
) -> UserOut:
    user = await users.get_user(runtime, identity, user_id)
    versioned(response, user.version)
    return UserOut.of(user)


@router.patch("/v1/users/{user_id}", response_model=UserOut)
async def revise_user(
    user_id: UUID,
    body: UserPatch,
    response: Response,
    runtime: RuntimeDep,
    identity: Admin,
    if_match: IfMatch = None,
) -> UserOut:
    """Rename, change the role, disable or enable, or set a new password (send If-Match)."""
    sent = body.model_dump(exclude_unset=True)
    password = sent.pop("password", None)
    for name in sorted(sent):
        if sent[name] is None:
            raise FieldInvalid(name, "cannot be null")
    user = await users.revise_user(
        runtime, identity, user_id, sent, password=password, if_match=if_match
    )
    versioned(response, user.version)
    return UserOut.of(user)


def _tokens(response: Response, t: users.Tokens) -> TokensOut:
    response.headers["Cache-Control"] = "no-store"
    return TokensOut(
        access_token=t.access_token, expires_in=t.expires_in, refresh_token=t.refresh_token
    )


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/v1/auth/token", response_model=TokensOut)
async def log_in(
    body: LoginIn, request: Request, response: Response, runtime: RuntimeDep
) -> TokensOut:
    email = str(body.email).lower()
    limits.admit_login(runtime, f"{body.tenant_id}:{email}", _address(request))
    tokens = await users.log_in(runtime, body.tenant_id, email, body.password)
    return _tokens(response, tokens)


@router.post("/v1/auth/refresh", response_model=TokensOut)
async def refresh(
    body: RefreshIn, request: Request, response: Response, runtime: RuntimeDep
) -> TokensOut:
    limits.admit_login(runtime, f"refresh:{body.refresh_token[:16]}", _address(request))
    return _tokens(response, await users.refresh(runtime, body.refresh_token))
