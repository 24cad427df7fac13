"""notifications starts on the real Postgres and broker, with the kit's tables in its schema."""

import pytest

from notifications.app import define
from notifications.settings import NotificationsSettings
from servicekit.service import create_app
from servicekit.testing import Infra, check_service_boots

pytestmark = pytest.mark.integration


async def test_ready_with_metrics_and_kit_tables_in_its_own_schema(infra: Infra) -> None:
    await check_service_boots(infra, create_app(define(infra.settings(NotificationsSettings))))
