from pydantic import Field

from servicekit.settings import ServiceSettings, service_config


class TimecaptureSettings(ServiceSettings):
    model_config = service_config("TIMECAPTURE_")

    service_name: str = "timecapture"
    http_port: int = 8001
    reject_overlapping_entries: bool = Field(
        True, description="Refuse an entry that overlaps another entry of the same member."
    )
    import_max_rows: int = Field(
        100_000, ge=1, description="Largest CSV or JSON import accepted in one request."
    )
