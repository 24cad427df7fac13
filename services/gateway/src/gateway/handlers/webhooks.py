"""Provider webhook deliveries: admitted for the tenant they name, as a provider identity."""

from __future__ import annotations

import time
from uuid import UUID

from gateway.db import api_keys as rows
from gateway.handlers.limits import admit_tenant_lookup
from servicekit.identity import PROVIDER, Identity
from servicekit.problems import NotFoundError, ParameterInvalid
from servicekit.service import Runtime

# A tenant is never deleted, so one seen stays known; one not found is asked again after this.
_UNKNOWN_TTL_S = 5.0
_ACQUIRE_TIMEOUT_S = 2.0
_CACHE_SIZE = 10_000


class TenantNotFound(NotFoundError):
    slug = "tenant-not-found"
    title = "No such tenant"


async def provider_identity(runtime: Runtime, provider: str, tenant_param: str | None) -> Identity:
    try:
        tenant_id = UUID(tenant_param or "")
    except ValueError:
        raise ParameterInvalid(
            "tenant_id", "the webhook URL needs ?tenant_id=<the tenant's id>"
        ) from None
    if not await _tenant_exists(runtime, tenant_id):
        raise TenantNotFound(f"no tenant {tenant_id}")
    return Identity(
        tenant_id=tenant_id, principal=f"provider:{provider}:{tenant_id}", role=PROVIDER
    )


async def _tenant_exists(runtime: Runtime, tenant_id: UUID) -> bool:
    known: set[UUID] = runtime.state.setdefault("known_tenants", set())
    unknown: dict[UUID, float] = runtime.state.setdefault("unknown_tenants", {})
    if tenant_id in known:
        return True
    missed = unknown.get(tenant_id)
    if missed is not None and time.monotonic() - missed <= _UNKNOWN_TTL_S:
        return False
    admit_tenant_lookup(runtime)
    async with runtime.require_pool().acquire(timeout=_ACQUIRE_TIMEOUT_S) as conn:
        exists = await rows.tenant_exists(conn, tenant_id)
    for cache in (known, unknown):
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
    if exists:
        known.add(tenant_id)
    else:
        unknown[tenant_id] = time.monotonic()
    return exists
