from servicekit.settings import ServiceSettings, service_config


class PaymentsSettings(ServiceSettings):
    model_config = service_config("PAYMENTS_")

    service_name: str = "payments"
    http_port: int = 8003
