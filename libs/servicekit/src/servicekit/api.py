"""Dependencies and parameters the route modules of every service use."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Response
from pydantic import BaseModel

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
