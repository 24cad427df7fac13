"""Where a caller puts their API key."""

from __future__ import annotations

import hmac
from uuid import UUID

from servicekit.identity import Identity
from servicekit.problems import UnauthorizedError


def api_key_from(authorization: str | None, x_api_key: str | None) -> str:
    if x_api_key:
        return x_api_key
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token:
            return token.strip()
    raise UnauthorizedError(
        "send an API key as 'Authorization: Bearer <key>'",
        headers={"WWW-Authenticate": "Bearer"},
    )


def dev_identity(key: str, dev_key: str | None, dev_tenant_id: UUID | None) -> Identity | None:
    """The local development key acts as admin of its tenant; None for any other key."""
    if (
        dev_key is not None
        and dev_tenant_id is not None
        and hmac.compare_digest(key.encode(), dev_key.encode())
    ):
        return Identity(tenant_id=dev_tenant_id, principal="dev-api-key", role="admin")
    return None
