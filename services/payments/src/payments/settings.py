from pydantic import Field, SecretStr

from servicekit.settings import ServiceSettings, service_config


class PaymentsSettings(ServiceSettings):
    model_config = service_config("PAYMENTS_")

    service_name: str = "payments"
    http_port: int = 8003
    secret_keys: SecretStr | None = Field(
        None,
        description="Keys sealing providers' webhook secrets at rest: `<id>:<base64url of 32 "
        "bytes>[,...]`, the first seals and each opens (roll by listing the new key first). "
        "Unset: Stripe settings and deliveries answer 503. Roll in three steps (decision 41).",
    )
