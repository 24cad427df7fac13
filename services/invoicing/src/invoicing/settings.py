from servicekit.settings import ServiceSettings, service_config


class InvoicingSettings(ServiceSettings):
    model_config = service_config("INVOICING_")

    service_name: str = "invoicing"
    http_port: int = 8002
