from analytics.settings import AnalyticsSettings
from servicekit.service import ServiceDefinition


def define(settings: AnalyticsSettings | None = None) -> ServiceDefinition:
    # Skeleton: health, metrics, outbox and inbox from the kit; its domain comes with its issue.
    return ServiceDefinition(settings=settings or AnalyticsSettings(), title="Billstream analytics")
