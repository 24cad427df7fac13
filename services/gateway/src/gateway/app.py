from pathlib import Path

from gateway.api import api_keys, tenants
from gateway.api.proxy import router as proxy_router
from gateway.settings import GatewaySettings
from gateway.upstream import upstreams
from servicekit.service import ServiceDefinition

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def define(settings: GatewaySettings | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        settings=settings or GatewaySettings(),
        title="Billstream API",
        # The gateway's own routes before the proxy, which takes every other /v1 path.
        public_routers=[tenants.router, api_keys.router, proxy_router],
        resources=[upstreams],
        migrations_dir=MIGRATIONS,
    )
