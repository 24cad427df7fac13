"""CPU each process of the platform uses at rest: what polling (consumers' fetches, the
relay) costs before any work arrives. No baseline: at rest the ideal is zero."""

from __future__ import annotations

import asyncio
import os
import time

from bench.cpu import cpu_seconds
from bench.event_latency import PORT
from bench.schemas import migrate
from bench.services import platform
from servicekit.testing import Infra, local_infra

SETTLE_S = float(os.environ.get("BENCH_SETTLE_SECONDS", "8"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))


async def _main(infra: Infra) -> None:
    await migrate(infra, ("timecapture", "invoicing", "payments", "gateway"))
    async with platform(infra):
        await asyncio.sleep(SETTLE_S)  # consumer groups joined, start-up work done
        before = cpu_seconds(infra)
        t0 = time.perf_counter()
        await asyncio.sleep(SECONDS)
        after = cpu_seconds(infra)
        elapsed = time.perf_counter() - t0
    used = {name: (after[name] - before.get(name, 0.0)) / elapsed * 100 for name in after}
    print(
        f"idle CPU over {elapsed:.0f} s, % of one core: "
        + ", ".join(f"{name} {pct:.1f}" for name, pct in used.items())
        + f"; all {sum(used.values()):.1f} ({os.cpu_count()} cores)"
    )


def main() -> None:
    with local_infra(PORT, "billstream_bench") as infra:
        asyncio.run(_main(infra))
