"""AnalyticsSettings read the ANALYTICS_ environment and nothing else."""

from __future__ import annotations

import pytest

from analytics.app import define
from analytics.settings import AnalyticsSettings

OWN = "ANALYTICS_"
OTHER = "NOTIFICATIONS_"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for prefix in (OWN, OTHER, ""):
        for name in ("HTTP_PORT", "DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "LOG_LEVEL"):
            monkeypatch.delenv(prefix + name, raising=False)


def test_defaults_name_the_service() -> None:
    s = AnalyticsSettings()
    assert s.service_name == "analytics"
    assert s.http_port == 8005
    assert s.database_url is None
    assert s.kafka_bootstrap_servers is None


def test_own_prefix_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OWN + "HTTP_PORT", "9005")
    monkeypatch.setenv(OWN + "DATABASE_URL", "postgresql://analytics@db/billstream")
    monkeypatch.setenv(OWN + "KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv(OWN + "LOG_LEVEL", "DEBUG")

    s = AnalyticsSettings()

    assert s.http_port == 9005
    assert s.database_url == "postgresql://analytics@db/billstream"
    assert s.kafka_bootstrap_servers == "kafka:9092"
    assert s.log_level == "DEBUG"


def test_other_services_and_unprefixed_variables_are_ignored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for prefix in (OTHER, ""):
        monkeypatch.setenv(prefix + "HTTP_PORT", "9999")
        monkeypatch.setenv(prefix + "DATABASE_URL", "postgresql://intruder@db/billstream")
        monkeypatch.setenv(prefix + "LOG_LEVEL", "DEBUG")

    s = AnalyticsSettings()

    assert s.http_port == 8005
    assert s.database_url is None
    assert s.log_level == "INFO"


def test_define_reads_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OWN + "HTTP_PORT", "9005")

    definition = define()

    assert isinstance(definition.settings, AnalyticsSettings)
    assert definition.settings.http_port == 9005
    assert definition.settings.service_name == "analytics"
