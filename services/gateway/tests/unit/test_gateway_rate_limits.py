"""Token buckets: a burst, then the refill rate, per key and per tenant."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain.rate_limits import Buckets, Limit, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def limiter(clock: Clock, key: Limit, tenant: Limit) -> RateLimiter:
    return RateLimiter(Buckets(key, clock), Buckets(tenant, clock))


def test_a_key_gets_its_burst_then_waits_for_the_refill() -> None:
    clock = Clock()
    limits = limiter(clock, Limit(rate=2, burst=3), Limit(rate=0, burst=1))

    assert [limits.admit("k", "t") for _ in range(3)] == [0, 0, 0]
    assert limits.admit("k", "t") == pytest.approx(0.5)
    clock.now = 0.5
    assert limits.admit("k", "t") == 0
    assert limits.admit("k", "t") == pytest.approx(0.5)


def test_keys_of_one_tenant_share_the_tenant_limit() -> None:
    clock = Clock()
    limits = limiter(clock, Limit(rate=10, burst=10), Limit(rate=1, burst=2))

    assert [limits.admit("a", "t"), limits.admit("b", "t")] == [0, 0]
    assert limits.admit("c", "t") == pytest.approx(1.0)
    assert limits.admit("c", "other tenant") == 0


def test_a_refused_request_takes_no_token() -> None:
    clock = Clock()
    limits = limiter(clock, Limit(rate=1, burst=1), Limit(rate=1, burst=5))

    assert limits.admit("k", "t") == 0
    assert all(limits.admit("k", "t") > 0 for _ in range(10))
    clock.now = 1.0
    assert limits.admit("k", "t") == 0  # the tenant lost nothing to the refusals


@given(
    rate=st.floats(0.5, 100),
    burst=st.integers(1, 50),
    gaps=st.lists(st.floats(0, 2), min_size=1, max_size=200),
)
def test_admitted_never_exceed_burst_plus_rate_times_elapsed(
    rate: float, burst: int, gaps: list[float]
) -> None:
    clock = Clock()
    limits = limiter(clock, Limit(rate, burst), Limit(0, 1))
    admitted = 0
    for gap in gaps:
        clock.now += gap
        admitted += limits.admit("k", "t") == 0
    assert admitted <= burst + rate * clock.now + 1e-9


def test_rate_zero_is_no_limit() -> None:
    limits = limiter(Clock(), Limit(0, 1), Limit(0, 1))

    assert all(limits.admit("k", "t") == 0 for _ in range(1000))
