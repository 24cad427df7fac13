"""PaymentsSettings read the PAYMENTS_ environment and nothing else."""

from __future__ import annotations

import pytest

from payments.app import define
from payments.settings import PaymentsSettings

OWN = "PAYMENTS_"
OTHER = "INVOICING_"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for prefix in (OWN, OTHER, ""):
        for name in ("HTTP_PORT", "DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "LOG_LEVEL"):
            monkeypatch.delenv(prefix + name, raising=False)


def test_defaults_name_the_service() -> None:
    s = PaymentsSettings()
    assert s.service_name == "payments"
    assert s.http_port == 8003
    assert s.database_url is None
    assert s.kafka_bootstrap_servers is None


def test_own_prefix_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OWN + "HTTP_PORT", "9003")
    monkeypatch.setenv(OWN + "DATABASE_URL", "postgresql://payments@db/billstream")
    monkeypatch.setenv(OWN + "KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv(OWN + "LOG_LEVEL", "DEBUG")

    s = PaymentsSettings()

    assert s.http_port == 9003
    assert s.database_url == "postgresql://payments@db/billstream"
    assert s.kafka_bootstrap_servers == "kafka:9092"
    assert s.log_level == "DEBUG"


def test_other_services_and_unprefixed_variables_are_ignored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for prefix in (OTHER, ""):
        monkeypatch.setenv(prefix + "HTTP_PORT", "9999")
        monkeypatch.setenv(prefix + "DATABASE_URL", "postgresql://intruder@db/billstream")
        monkeypatch.setenv(prefix + "LOG_LEVEL", "DEBUG")

    s = PaymentsSettings()

    assert s.http_port == 8003
    assert s.database_url is None
    assert s.log_level == "INFO"


def test_define_reads_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OWN + "HTTP_PORT", "9003")

    definition = define()

    assert isinstance(definition.settings, PaymentsSettings)
    assert definition.settings.http_port == 9003
    assert definition.settings.service_name == "payments"
