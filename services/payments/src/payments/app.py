from payments.settings import PaymentsSettings
from servicekit.service import ServiceDefinition


def define(settings: PaymentsSettings | None = None) -> ServiceDefinition:
    # Skeleton: health, metrics, outbox and inbox from the kit; its domain comes with its issue.
    return ServiceDefinition(settings=settings or PaymentsSettings(), title="Billstream payments")
