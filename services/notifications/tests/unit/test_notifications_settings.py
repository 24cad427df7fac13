"""NotificationsSettings read the NOTIFICATIONS_ environment and nothing else."""

import pytest

from notifications.app import define
from notifications.settings import NotificationsSettings
from servicekit.testing import check_settings_prefix


def test_settings_read_only_their_own_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    check_settings_prefix(
        NotificationsSettings, default_port=8004, other_prefix="PAYMENTS_", monkeypatch=monkeypatch
    )


def test_define_reads_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFICATIONS_HTTP_PORT", "9100")

    definition = define()

    assert isinstance(definition.settings, NotificationsSettings)
    assert definition.settings.http_port == 9100
