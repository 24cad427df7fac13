"""Pooled HTTP clients to the services, living as long as the gateway."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

from gateway.settings import GatewaySettings
from servicekit.identity import IdentitySigner
from servicekit.service import Runtime


@dataclass
class Upstreams:
    client: httpx.AsyncClient
    signer: IdentitySigner
    settings: GatewaySettings


@contextlib.asynccontextmanager
async def upstreams(runtime: Runtime) -> AsyncIterator[None]:
    settings = runtime.settings
    assert isinstance(settings, GatewaySettings)
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(
            settings.upstream_timeout_s, connect=settings.upstream_connect_timeout_s
        ),
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=100),
        follow_redirects=False,
    )
    # Client spans inject `traceparent`, so each service continues the caller's trace.
    HTTPXClientInstrumentor.instrument_client(client)
    runtime.state["upstreams"] = Upstreams(
        client=client,
        signer=IdentitySigner(
            settings.identity_private_key.get_secret_value(), clock=runtime.clock
        ),
        settings=settings,
    )
    try:
        yield
    finally:
        await client.aclose()
