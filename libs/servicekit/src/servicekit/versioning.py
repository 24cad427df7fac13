"""Optimistic concurrency over HTTP: `ETag` carries a row's version, `If-Match` must name it.

Writes to an existing resource require `If-Match` (428 without it), so a client that never read
the current version cannot silently overwrite someone else's change; a stale version gets 412.
`If-Match: *` is honoured as RFC 9110 defines it: any current version.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

from servicekit.problems import ServiceError

__all__ = ["IfMatch", "PreconditionFailed", "PreconditionRequired", "check_version", "etag"]

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='The resource\'s current ETag (e.g. `"3"`), from a GET or the last write.',
    ),
]


class PreconditionRequired(ServiceError):
    status = 428
    slug = "precondition-required"
    title = "Precondition required"


class PreconditionFailed(ServiceError):
    status = 412
    slug = "precondition-failed"
    title = "Precondition failed"


def etag(version: int) -> str:
    return f'"{version}"'


def check_version(if_match: str | None, current: int) -> None:
    """Raise unless `if_match` names version `current` (strong comparison, RFC 9110 13.1.1)."""
    if if_match is None or not if_match.strip():
        raise PreconditionRequired(
            "send If-Match with the ETag of the version you read, so concurrent edits are not lost",
            errors=[{"parameter": "If-Match", "in": "header", "detail": "required"}],
        )
    tags = [t.strip() for t in if_match.split(",")]
    if "*" in tags or etag(current) in tags:
        return
    raise PreconditionFailed(
        f"the resource is at version {etag(current)}, not {if_match.strip()}; read it again",
        headers={"ETag": etag(current)},
        current_version=current,
    )
