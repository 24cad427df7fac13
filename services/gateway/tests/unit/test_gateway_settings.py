"""Gateway settings: its own env prefix, and where each service is reached."""

from __future__ import annotations

import pytest

from gateway.settings import GatewaySettings
from servicekit.identity import generate_keypair

PRIVATE_KEY = generate_keypair()[0]


def test_env_prefix_is_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_IDENTITY_PRIVATE_KEY", PRIVATE_KEY)
    monkeypatch.setenv("GATEWAY_HTTP_PORT", "9100")
    monkeypatch.setenv("GATEWAY_UPSTREAM_TIMEOUT_S", "1.5")
    monkeypatch.setenv("TIMECAPTURE_HTTP_PORT", "9101")
    monkeypatch.setenv("HTTP_PORT", "9102")

    s = GatewaySettings()  # type: ignore[call-arg]

    assert s.service_name == "gateway"
    assert s.http_port == 9100
    assert s.upstream_timeout_s == 1.5
    assert s.identity_private_key.get_secret_value() == PRIVATE_KEY


def test_upstream_url_has_no_trailing_slash() -> None:
    s = GatewaySettings(
        identity_private_key=PRIVATE_KEY,  # type: ignore[arg-type]
        invoicing_url="http://invoicing:8002/",
    )
    assert s.upstream_url("invoicing") == "http://invoicing:8002"
    assert s.upstream_url("payments") == "http://127.0.0.1:8003"
