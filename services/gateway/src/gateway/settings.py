from uuid import UUID

from pydantic import Field, SecretStr

from servicekit.settings import ServiceSettings, service_config


class GatewaySettings(ServiceSettings):
    model_config = service_config("GATEWAY_")

    service_name: str = "gateway"
    http_port: int = 8000
    identity_private_key: SecretStr = Field(
        description="PEM Ed25519 private key signing the identity tokens forwarded to services."
    )
    dev_api_key: SecretStr | None = Field(None, description="Local development API key.")
    dev_tenant_id: UUID | None = Field(None, description="Tenant the dev API key acts for.")
    operator_key: SecretStr | None = Field(None, description="Operator key (tenant bootstrap).")
    timecapture_url: str = "http://127.0.0.1:8001"
    invoicing_url: str = "http://127.0.0.1:8002"
    payments_url: str = "http://127.0.0.1:8003"
    notifications_url: str = "http://127.0.0.1:8004"
    analytics_url: str = "http://127.0.0.1:8005"
    upstream_timeout_s: float = Field(10.0, gt=0)
    upstream_connect_timeout_s: float = Field(2.0, gt=0)
    upstream_max_connections: int = Field(
        32, ge=1, description="Pooled connections per service; more queue in the gateway."
    )
    max_body_bytes: int = Field(10 * 1024 * 1024, gt=0)
    rate_limit_key_per_s: float = Field(
        500.0, ge=0, description="Requests per second per API key, per replica; 0: no limit."
    )
    rate_limit_key_burst: float = Field(1000.0, ge=1)
    rate_limit_tenant_per_s: float = Field(
        1000.0, ge=0, description="Requests per second per tenant, per replica; 0: no limit."
    )
    rate_limit_tenant_burst: float = Field(2000.0, ge=1)
    login_attempts_per_minute: float = Field(
        10.0, ge=0, description="Logins and refreshes per account per minute; 0: no limit."
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Browser origins allowed to call the API (CORS)."
    )

    def upstream_url(self, service: str) -> str:
        url: str = getattr(self, f"{service}_url")
        return url.rstrip("/")
