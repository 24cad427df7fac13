"""PaymentsSettings read the PAYMENTS_ environment and nothing else."""

import pytest

from payments.app import define
from payments.settings import PaymentsSettings
from servicekit.testing import check_settings_prefix


def test_settings_read_only_their_own_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    check_settings_prefix(
        PaymentsSettings, default_port=8003, other_prefix="INVOICING_", monkeypatch=monkeypatch
    )


def test_define_reads_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYMENTS_HTTP_PORT", "9100")

    definition = define()

    assert isinstance(definition.settings, PaymentsSettings)
    assert definition.settings.http_port == 9100
