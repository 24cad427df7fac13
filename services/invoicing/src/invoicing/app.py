from pathlib import Path

from invoicing.messaging.consumers import on_time_entries_logged, on_time_entry_logged
from invoicing.settings import InvoicingSettings
from servicekit.consumer import Subscription
from servicekit.service import ServiceDefinition

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def define(settings: InvoicingSettings | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        settings=settings or InvoicingSettings(),
        title="Billstream invoicing",
        subscriptions=[
            Subscription(
                "time-entry-logged", on_time_entry_logged, batch_handler=on_time_entries_logged
            )
        ],
        migrations_dir=MIGRATIONS,
    )
