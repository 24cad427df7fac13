"""Dependencies and parameters the route modules of every service use."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel

from servicekit import idempotency
from servicekit.db import Connection
from servicekit.identity import (
    MANAGERS,
    WRITERS,
    Identity,
    require_identity,
    require_provider,
    require_role,
)
from servicekit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from servicekit.problems import FieldInvalid
from servicekit.service import Runtime, get_runtime
from servicekit.versioning import etag

RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
Reader = Annotated[Identity, Depends(require_identity)]
Writer = Annotated[Identity, Depends(require_role(*WRITERS))]
Manager = Annotated[Identity, Depends(require_role(*MANAGERS))]
Provider = Annotated[Identity, Depends(require_provider)]

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")]
Cursor = Annotated[
    str | None, Query(description="`next_cursor` of the previous page; omit for the first.")
]
SortParam = Annotated[
    str | None, Query(description="Field to sort by; prefix with `-` for descending.")
]
DEFAULT_PAGE = DEFAULT_LIMIT
T = TypeVar("T")


async def once_per_key(
    request: Request,
    runtime: Runtime,
    identity: Identity,
    key: str | None,
    *,
    work: Callable[[Connection], Awaitable[T]],
    render: Callable[[T], idempotency.Stored],
) -> Response:
    """A money-moving route's write, once per `Idempotency-Key` (`servicekit.idempotency`):
    in the caller's tenant, fingerprinted by the request's method, path and body."""
    return await idempotency.respond(
        runtime.require_pool(),
        identity.tenant_id,
        key=key,
        request_fingerprint=await idempotency.fingerprint(request),
        work=work,
        render=render,
    )


def versioned(response: Response, version: int, location: str | None = None) -> None:
    response.headers["ETag"] = etag(version)
    if location:
        response.headers["Location"] = location


def changes_of(patch: BaseModel, not_null: set[str]) -> dict[str, Any]:
    """Fields the client sent; null clears a field, except where the field is required."""
    sent = patch.model_dump(exclude_unset=True)
    for name in sorted(not_null & sent.keys()):
        if sent[name] is None:
            raise FieldInvalid(name, "cannot be null")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in sent.items()}
