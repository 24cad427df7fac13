"""Injected time and ids, so tests can pin them."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

Clock = Callable[[], datetime]
IdFactory = Callable[[], UUID]


def utc_now() -> datetime:
    return datetime.now(UTC)


def uuid7() -> UUID:
    """RFC 9562 UUIDv7: time-ordered, so new rows land at the right end of B-tree indexes."""
    unix_ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (unix_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return UUID(int=value)


def uuid7_texts(count: int) -> list[str]:
    """`count` UUIDv7 in text form for bulk writes: one clock read and one urandom call, about
    ten times cheaper than `uuid7()` each. Ordered by time only to the millisecond."""
    unix_ms = (time.time_ns() // 1_000_000) & ((1 << 48) - 1)
    prefix = f"{unix_ms:012x}"
    stamp = f"{prefix[:8]}-{prefix[8:]}-7"
    noise = os.urandom(10 * count).hex()
    texts = []
    for i in range(0, 20 * count, 20):
        r = noise[i : i + 20]
        # Variant bits 10xx in the first hex digit of the fourth group.
        variant = "89ab"[int(r[3], 16) & 3]
        texts.append(f"{stamp}{r[:3]}-{variant}{r[4:7]}-{r[7:19]}")
    return texts
