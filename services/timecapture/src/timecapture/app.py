from pathlib import Path

from servicekit.service import ServiceDefinition
from timecapture.api.time_entries import router as time_entries_router
from timecapture.settings import TimecaptureSettings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def define(settings: TimecaptureSettings | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        settings=settings or TimecaptureSettings(),
        title="Billstream time capture",
        routers=[time_entries_router],
        migrations_dir=MIGRATIONS,
    )
