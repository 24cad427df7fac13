from servicekit.settings import ServiceSettings, service_config


class NotificationsSettings(ServiceSettings):
    model_config = service_config("NOTIFICATIONS_")

    service_name: str = "notifications"
    http_port: int = 8004
