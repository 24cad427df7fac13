"""The key cache's negative entries: made-up keys cost one read per prefix and TTL."""

from __future__ import annotations

import time

from gateway.handlers.keys import KEY_CACHE_TTL_S, KeyCache


def test_an_unknown_prefix_is_remembered_until_forgotten_or_stale() -> None:
    cache = KeyCache()
    read_at = time.monotonic()
    cache.put_missing("abc123def456", read_at=read_at)
    assert cache.is_missing("abc123def456")
    assert not cache.is_missing("000000000000")
    cache.forget("abc123def456")
    assert not cache.is_missing("abc123def456")
    cache.missing["abc123def456"] = read_at - KEY_CACHE_TTL_S - 1
    assert not cache.is_missing("abc123def456")


def test_a_miss_read_before_a_change_here_is_not_remembered() -> None:
    cache = KeyCache()
    read_at = time.monotonic()
    cache.forget("abc123def456")  # e.g. the key was just created on this replica
    cache.put_missing("abc123def456", read_at=read_at)
    assert not cache.is_missing("abc123def456")
