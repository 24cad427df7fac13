"""Admitting an authenticated request under its key's and its tenant's rate limits."""

from __future__ import annotations

import math
import time

from gateway.domain.rate_limits import Buckets, Limit, RateLimiter
from gateway.settings import GatewaySettings
from servicekit.identity import PROVIDER, Identity
from servicekit.problems import ServiceError
from servicekit.service import Runtime


class RateLimited(ServiceError):
    status = 429
    slug = "rate-limited"
    title = "Too many requests"


def _limiter(runtime: Runtime) -> RateLimiter:
    limiter = runtime.state.get("rate_limiter")
    if isinstance(limiter, RateLimiter):
        return limiter
    s = runtime.settings
    assert isinstance(s, GatewaySettings)
    limiter = RateLimiter(
        per_key=Buckets(Limit(s.rate_limit_key_per_s, s.rate_limit_key_burst), time.monotonic),
        per_tenant=Buckets(
            Limit(s.rate_limit_tenant_per_s, s.rate_limit_tenant_burst), time.monotonic
        ),
    )
    runtime.state["rate_limiter"] = limiter
    return limiter


def admit(runtime: Runtime, identity: Identity) -> None:
    # A provider's deliveries have a tenant bucket of their own: anyone can post to the
    # webhook URL, and that must not spend the tenant's own API budget.
    tenant = str(identity.tenant_id)
    if identity.role == PROVIDER:
        tenant = f"{PROVIDER}:{tenant}"
    wait = _limiter(runtime).admit(identity.principal, tenant)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise RateLimited(
            f"too many requests for this API key or tenant; retry in {seconds} s",
            headers={"Retry-After": str(seconds)},
            retry_after_s=seconds,
        )


def _login_limiter(runtime: Runtime) -> RateLimiter:
    limiter = runtime.state.get("login_limiter")
    if isinstance(limiter, RateLimiter):
        return limiter
    s = runtime.settings
    assert isinstance(s, GatewaySettings)
    per_minute = s.login_attempts_per_minute
    limiter = RateLimiter(
        per_key=Buckets(Limit(per_minute / 60, max(1.0, per_minute)), time.monotonic),
        per_tenant=Buckets(Limit(6 * per_minute / 60, max(1.0, 6 * per_minute)), time.monotonic),
    )
    runtime.state["login_limiter"] = limiter
    return limiter


def admit_login(runtime: Runtime, account: str, client_address: str) -> None:
    """Password guesses are bounded per account and per client address (six accounts' worth),
    before any password is hashed."""
    wait = _login_limiter(runtime).admit(account, client_address)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise RateLimited(
            f"too many attempts; retry in {seconds} s",
            headers={"Retry-After": str(seconds)},
            retry_after_s=seconds,
        )


# Webhook URLs name a tenant, and a name not cached costs a database read: bounded in all.
TENANT_LOOKUPS_PER_S = 50.0


def admit_tenant_lookup(runtime: Runtime) -> None:
    buckets = runtime.state.get("tenant_lookups")
    if not isinstance(buckets, Buckets):
        limit = Limit(TENANT_LOOKUPS_PER_S, 2 * TENANT_LOOKUPS_PER_S)
        buckets = runtime.state["tenant_lookups"] = Buckets(limit, time.monotonic)
    wait = buckets.wait_for("all")
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise RateLimited(
            f"too many webhook deliveries for unknown tenants; retry in {seconds} s",
            headers={"Retry-After": str(seconds)},
            retry_after_s=seconds,
        )
    buckets.take("all")
