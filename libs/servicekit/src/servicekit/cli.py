"""`python -m <service> [serve|migrate]`, the same for every service."""

from __future__ import annotations

import argparse
import asyncio
import gc
from collections.abc import Callable

import uvicorn

from servicekit import migrations
from servicekit.service import ServiceDefinition, create_app
from servicekit.telemetry import setup_logging

GC_YOUNG_THRESHOLD = 20_000


async def _migrate(definition: ServiceDefinition) -> None:
    import asyncpg

    s = definition.settings
    if not s.database_url:
        raise SystemExit(f"{s.service_name} has no database")
    conn = await asyncpg.connect(s.database_url)
    try:
        found = migrations.load_migrations(migrations.migration_sources(definition.migrations_dir))
        applied = await migrations.apply(conn, found)
        print(f"{s.service_name}: {len(applied)} migration(s) applied")  # noqa: T201
    finally:
        await conn.close()


def main(define: Callable[[], ServiceDefinition]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate"])
    args = parser.parse_args()
    definition = define()
    s = definition.settings
    setup_logging(s.service_name, s.log_level)
    if args.command == "migrate":
        asyncio.run(_migrate(definition))
        return
    app = create_app(definition)
    # What is imported and built by now lives as long as the process: frozen, a full
    # collection no longer walks it. Unfrozen, each full collection paused a service for
    # 85-130 ms under load (timed with gc.callbacks in bench payments-api): its p99.
    # Collected first, so no garbage of the start-up is kept for good.
    gc.collect()
    gc.freeze()
    # A young collection every 20,000 allocations, not every 700: a request allocates
    # hundreds of container objects, so at 700 one ran every few requests (8 % of the
    # gateway's samples under load). Three paired runs of bench payments-api: payments
    # -4 to -8 % CPU per payment, the gateway -5 to -8 %, payment -> paid p99 180-221 ms
    # against 257-296 ms; 100,000 did no better.
    gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)
    uvicorn.run(
        app,
        host=s.http_host,
        port=s.http_port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        # Longer than clients' and proxies' own idle timeouts (httpx and aiohttp: 5-15 s,
        # load balancers: 60 s): the side that closes an idle connection should be the
        # client, or a request sent as the server closes it fails (a reset, not a retry).
        timeout_keep_alive=75,
    )
