from pathlib import Path

from invoicing import jobs
from invoicing.api import (
    billing_runs,
    credit_notes,
    invoices,
    rate_rules,
    recurring_invoices,
    settings,
    tax_rates,
)
from invoicing.messaging.consumers import (
    on_client_changed,
    on_payment_received,
    on_payment_refunded,
    on_payments_received,
    on_payments_refunded,
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
        routers=[
            settings.router,
            tax_rates.router,
            rate_rules.router,
            invoices.router,
            billing_runs.router,
            credit_notes.router,
            recurring_invoices.router,
        ],
        # Applied in this order within a fetched batch: the replicas before the time they own.
        subscriptions=[
            Subscription("client-changed", on_client_changed),
            Subscription("project-changed", on_project_changed),
            Subscription(
                "time-entry-logged", on_time_entry_logged, batch_handler=on_time_entries_logged
            ),
            Subscription(
                "payment-received", on_payment_received, batch_handler=on_payments_received
            ),
            Subscription(
                "payment-refunded", on_payment_refunded, batch_handler=on_payments_refunded
            ),
        ],
        migrations_dir=MIGRATIONS,
        resources=[
            jobs.billing_run_workers,
            periodic("overdue", jobs.mark_overdue, lambda r: _settings(r).overdue_check_interval_s),
            periodic(
                "recurring",
                jobs.bill_recurring,
                lambda r: _settings(r).recurring_check_interval_s,
            ),
            periodic(
                "billing-runs",
                jobs.resume_billing_runs,
                lambda r: _settings(r).billing_run_check_interval_s,
            ),
        ],
    )


def _settings(runtime: Runtime) -> InvoicingSettings:
    settings_ = runtime.settings
    assert isinstance(settings_, InvoicingSettings)
    return settings_
