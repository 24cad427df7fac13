from servicekit.service import ServiceDefinition

from analytics.settings import AnalyticsSettings


def define(settings: AnalyticsSettings | None = None) -> ServiceDefinition:
    # Skeleton: health, metrics, outbox and inbox from the kit; its domain comes with its issue.
    return ServiceDefinition(settings=settings or AnalyticsSettings(), title="Billstream analytics")
