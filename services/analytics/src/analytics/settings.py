from servicekit.settings import ServiceSettings, service_config


class AnalyticsSettings(ServiceSettings):
    model_config = service_config("ANALYTICS_")

    service_name: str = "analytics"
    http_port: int = 8005
