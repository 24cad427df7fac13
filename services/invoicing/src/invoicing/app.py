from pathlib import Path

from invoicing import jobs
from invoicing.api import invoices, rate_rules, settings, tax_rates
from invoicing.messaging.consumers import (
    on_client_changed,
    on_payment_received,
    on_payment_refunded,
    on_project_changed,
    on_time_entries_logged,
    on_time_entry_logged,
)
from invoicing.settings import InvoicingSettings
from servicekit.consumer import Subscription
from servicekit.jobs import periodic
from servicekit.service import Runtime, ServiceDefinition

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def define(settings_: InvoicingSettings | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        settings=settings_ or InvoicingSettings(),
        title="Billstream invoicing",
        routers=[settings.router, tax_rates.router, rate_rules.router, invoices.router],
        subscriptions=[
            Subscription(
                "time-entry-logged", on_time_entry_logged, batch_handler=on_time_entries_logged
            ),
            Subscription("client-changed", on_client_changed),
            Subscription("project-changed", on_project_changed),
            Subscription("payment-received", on_payment_received),
            Subscription("payment-refunded", on_payment_refunded),
        ],
        migrations_dir=MIGRATIONS,
        resources=[periodic("overdue", jobs.mark_overdue, _overdue_interval)],
    )


def _overdue_interval(runtime: Runtime) -> float:
    settings_ = runtime.settings
    assert isinstance(settings_, InvoicingSettings)
    return settings_.overdue_check_interval_s
