from notifications.settings import NotificationsSettings
from servicekit.service import ServiceDefinition


def define(settings: NotificationsSettings | None = None) -> ServiceDefinition:
    # Skeleton: health, metrics, outbox and inbox from the kit; its domain comes with its issue.
    return ServiceDefinition(
        settings=settings or NotificationsSettings(), title="Billstream notifications"
    )
