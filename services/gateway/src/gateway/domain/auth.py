"""Caller authentication. The skeleton knows the dev API key only; tenants and keys come next."""

from __future__ import annotations

import hmac

from gateway.settings import GatewaySettings
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


def authenticate(key: str, settings: GatewaySettings) -> Identity:
    dev = settings.dev_api_key
    if (
        dev is not None
        and settings.dev_tenant_id is not None
        and hmac.compare_digest(key.encode(), dev.get_secret_value().encode())
    ):
        return Identity(tenant_id=settings.dev_tenant_id, principal="dev-api-key", role="admin")
    raise UnauthorizedError("unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
