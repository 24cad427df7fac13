"""Token buckets per API key and per tenant, kept in each gateway replica's memory.

A bucket holds up to `burst` tokens and refills at `rate` per second; a request takes one
token from its key's bucket and one from its tenant's, or is refused with the time until
both have one again. Per replica: N replicas admit up to N times the rate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

_MAX_BUCKETS = 100_000


@dataclass(frozen=True, slots=True)
class Limit:
    rate: float  # tokens per second; 0 turns the limit off
    burst: float


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


@dataclass
class Buckets:
    limit: Limit
    clock: Callable[[], float]
    buckets: dict[str, _Bucket] = field(default_factory=dict)

    def wait_for(self, name: str) -> float:
        """Seconds until `name` has a token (0: it has one now). Takes nothing."""
        if self.limit.rate <= 0:
            return 0.0
        bucket = self._refilled(name)
        return 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / self.limit.rate

    def take(self, name: str) -> None:
        if self.limit.rate > 0:
            self._refilled(name).tokens -= 1

    def _refilled(self, name: str) -> _Bucket:
        now = self.clock()
        bucket = self.buckets.get(name)
        if bucket is None:
            if len(self.buckets) >= _MAX_BUCKETS:
                # Full buckets only: forgetting one grants at most one burst again.
                self.buckets = {
                    k: b for k, b in self.buckets.items() if b.tokens < self.limit.burst
                }
            bucket = self.buckets[name] = _Bucket(self.limit.burst, now)
        bucket.tokens = min(self.limit.burst, bucket.tokens + (now - bucket.at) * self.limit.rate)
        bucket.at = now
        return bucket


@dataclass
class RateLimiter:
    per_key: Buckets
    per_tenant: Buckets

    def admit(self, key: str, tenant: str) -> float:
        """0 when the request may go (and its tokens are taken), else seconds to wait."""
        wait = max(self.per_key.wait_for(key), self.per_tenant.wait_for(tenant))
        if wait == 0:
            self.per_key.take(key)
            self.per_tenant.take(tenant)
        return wait
