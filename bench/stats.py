"""Percentiles and a fixed-rate (open-loop) driver shared by the benchmarks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary_ms(values: list[float]) -> str:
    return " ".join(f"p{p}={percentile(values, p) * 1000:.1f}ms" for p in (50, 95, 99))


async def open_loop(
    rate: float,
    count: int,
    work: Callable[[int], Awaitable[None]],
    max_in_flight: int = 256,
    t0: float | None = None,
) -> float:
    """Start work(i) at t0 + i/rate whatever the latency; returns the achieved start rate.
    `t0` (a `time.perf_counter()` reading, default now) is the one `work` measures from."""
    gate = asyncio.Semaphore(max_in_flight)
    tasks: list[asyncio.Task[None]] = []

    async def one(i: int) -> None:
        async with gate:
            await work(i)

    t0 = time.perf_counter() if t0 is None else t0
    for i in range(count):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    return count / (time.perf_counter() - t0)
