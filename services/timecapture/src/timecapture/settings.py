from servicekit.settings import ServiceSettings, service_config


class TimecaptureSettings(ServiceSettings):
    model_config = service_config("TIMECAPTURE_")

    service_name: str = "timecapture"
    http_port: int = 8001
