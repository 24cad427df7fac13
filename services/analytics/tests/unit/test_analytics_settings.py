"""AnalyticsSettings read the ANALYTICS_ environment and nothing else."""

import pytest

from analytics.app import define
from analytics.settings import AnalyticsSettings
from servicekit.testing import check_settings_prefix


def test_settings_read_only_their_own_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    check_settings_prefix(
        AnalyticsSettings, default_port=8005, other_prefix="NOTIFICATIONS_", monkeypatch=monkeypatch
    )


def test_define_reads_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANALYTICS_HTTP_PORT", "9100")

    definition = define()

    assert isinstance(definition.settings, AnalyticsSettings)
    assert definition.settings.http_port == 9100
