import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from gateway.api import api_keys, docs, tenants, users
from gateway.api.proxy import ServiceRoute
from gateway.api.proxy import router as proxy_router
from gateway.handlers.keys import ensure_tenant
from gateway.settings import GatewaySettings
from gateway.upstream import upstreams
from servicekit.service import Runtime, ServiceDefinition

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@contextlib.asynccontextmanager
async def dev_tenant(runtime: Runtime) -> AsyncIterator[None]:
    settings = runtime.settings
    assert isinstance(settings, GatewaySettings)
    if settings.dev_tenant_id is not None and runtime.pool is not None:
        await ensure_tenant(runtime, settings.dev_tenant_id, "dev tenant")
    yield


def customize(settings: GatewaySettings) -> Callable[[FastAPI], None]:
    def add(app: FastAPI) -> None:
        # FastAPI's own /openapi.json knows only the gateway's routes: ours replaces it
        # (and /docs, which reads that URL, shows the whole API).
        app.router.routes[:] = [
            r for r in app.router.routes if getattr(r, "path", None) != app.openapi_url
        ]
        app.include_router(docs.router)
        # First, so a service's path is routed without trying the others (see ServiceRoute).
        app.router.routes.insert(0, ServiceRoute())
        if settings.cors_origins:
            app.add_middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=[
                    "Authorization",
                    "Content-Type",
                    "Idempotency-Key",
                    "If-Match",
                    "X-API-Key",
                    "X-Request-ID",
                    "traceparent",
                ],
                expose_headers=[
                    "ETag",
                    "Location",
                    "Link",
                    "Retry-After",
                    "X-Request-ID",
                    "Idempotent-Replayed",
                ],
                max_age=600,
            )

    return add


def define(settings: GatewaySettings | None = None) -> ServiceDefinition:
    settings = settings or GatewaySettings()
    return ServiceDefinition(
        settings=settings,
        title="Billstream API",
        # The gateway's own routes before the proxy, which takes every other /v1 path.
        public_routers=[tenants.router, api_keys.router, users.router, proxy_router],
        resources=[upstreams, dev_tenant],
        migrations_dir=MIGRATIONS,
        customize=customize(settings),
    )
