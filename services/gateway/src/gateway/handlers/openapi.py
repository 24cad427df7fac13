"""The aggregated OpenAPI document, fetched from the services and kept for a minute."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from fastapi import FastAPI

from gateway.domain.openapi import merged
from gateway.domain.routing import ROUTES
from gateway.upstream import Upstreams
from servicekit.service import Runtime

CACHE_S = 60.0
_FETCH_TIMEOUT_S = 3.0


async def aggregated(runtime: Runtime, app: FastAPI) -> dict[str, Any]:
    cached = runtime.state.get("openapi")
    if cached is not None and time.monotonic() - cached[0] < CACHE_S:
        doc: dict[str, Any] = cached[1]
        return doc
    up: Upstreams = runtime.state["upstreams"]
    services = sorted(set(ROUTES.values()))
    fetched = await asyncio.gather(*(_fetch(up, s) for s in services))
    found = {s: spec for s, spec in zip(services, fetched, strict=True) if spec is not None}
    doc = merged(app.openapi(), found)
    missing = [s for s in services if s not in found]
    if missing:
        # Served without them, said so, and not kept: the next request tries again.
        doc["x-billstream-unavailable"] = missing
    else:
        runtime.state["openapi"] = (time.monotonic(), doc)
    return doc


async def _fetch(up: Upstreams, service: str) -> dict[str, Any] | None:
    url = up.settings.upstream_url(service) + "/openapi.json"
    try:
        async with up.session.get(url, timeout=aiohttp.ClientTimeout(total=_FETCH_TIMEOUT_S)) as r:
            if r.status != 200:
                return None
            spec: dict[str, Any] = await r.json()
            return spec
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None
