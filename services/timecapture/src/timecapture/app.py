from pathlib import Path

from servicekit.consumer import Subscription
from servicekit.service import ServiceDefinition
from timecapture.api import clients, imports, members, projects, reports, time_entries, timers
from timecapture.messaging.consumers import (
    on_invoice_issued,
    on_invoice_voided,
    on_invoices_issued,
)
from timecapture.settings import TimecaptureSettings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def define(settings: TimecaptureSettings | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        settings=settings or TimecaptureSettings(),
        title="Billstream time capture",
        routers=[
            clients.router,
            projects.router,
            members.router,
            # Before time_entries: `/export` must not be read as an entry id.
            imports.router,
            time_entries.router,
            timers.router,
            reports.router,
        ],
        subscriptions=[
            Subscription("invoice-issued", on_invoice_issued, batch_handler=on_invoices_issued),
            Subscription("invoice-voided", on_invoice_voided),
        ],
        migrations_dir=MIGRATIONS,
    )
