from pathlib import Path

from payments.api import credit_balance, payments, providers, reconciliation
from payments.handlers.provider_secrets import sealing
from payments.messaging.consumers import (
    on_client_changed,
    on_credit_note_issued,
    on_invoice_issued,
    on_invoice_voided,
    on_invoices_issued,
)
from payments.settings import PaymentsSettings
from servicekit.consumer import Subscription
from servicekit.service import ServiceDefinition

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def define(settings: PaymentsSettings | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        settings=settings or PaymentsSettings(),
        title="Billstream payments",
        routers=[payments.router, credit_balance.router, providers.router, reconciliation.router],
        subscriptions=[
            Subscription("invoice-issued", on_invoice_issued, batch_handler=on_invoices_issued),
            Subscription("invoice-voided", on_invoice_voided),
            Subscription("credit-note-issued", on_credit_note_issued),
            Subscription("client-changed", on_client_changed),
        ],
        webhook_routers=[providers.webhook_router],
        migrations_dir=MIGRATIONS,
        resources=[sealing],
    )
