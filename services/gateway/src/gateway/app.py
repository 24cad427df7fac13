from gateway.api.proxy import router as proxy_router
from gateway.settings import GatewaySettings
from gateway.upstream import upstreams
from servicekit.service import ServiceDefinition


def define(settings: GatewaySettings | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        settings=settings or GatewaySettings(),
        title="Billstream API",
        public_routers=[proxy_router],
        resources=[upstreams],
    )
