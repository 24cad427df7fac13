"""Which service owns which `/v1` path."""

from __future__ import annotations

import pytest

from gateway.domain.routing import ROUTES, owner_of


@pytest.mark.parametrize(("resource", "service"), ROUTES.items())
def test_every_route_goes_to_its_owner(resource: str, service: str) -> None:
    assert owner_of(f"/v1/{resource}") == service
    assert owner_of(f"/v1/{resource}/") == service
    assert owner_of(f"/v1/{resource}/0196f0a2-7c1e-7d4a-9a53-3f1c2b9e8d01") == service
    assert owner_of(f"/v1/{resource}/0196f0a2-7c1e-7d4a-9a53-3f1c2b9e8d01/sub") == service


def test_routes_name_only_known_services() -> None:
    assert set(ROUTES.values()) == {"timecapture", "invoicing", "payments"}


def test_client_credit_balance_lives_in_payments() -> None:
    assert owner_of("/v1/clients/0196f0a2-7c1e-7d4a-9a53-3f1c2b9e8d01/credit-balance") == "payments"
    assert owner_of("/v1/clients/abc/credit-balance/history") == "payments"


def test_other_client_paths_stay_in_timecapture() -> None:
    assert owner_of("/v1/clients/abc") == "timecapture"
    assert owner_of("/v1/clients/abc/projects") == "timecapture"
    assert owner_of("/v1/clients/credit-balance") == "timecapture"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/unknown",
        "/v1/unknown/123",
        "/v1",
        "/v1/",
        "/",
        "",
        "/v2/time-entries",
        "/time-entries",
        "/api/v1/time-entries",
        "/v1/Time-Entries",
    ],
)
def test_unknown_paths_have_no_owner(path: str) -> None:
    assert owner_of(path) is None


@pytest.mark.parametrize(
    "path",
    [
        "/v1/time-entries/../../metrics",
        "/v1/payments/../time-entries",
        "/v1/time-entries/./1",
        "/v1/clients/x/../credit-balance",
        "/v1/../v1/time-entries",
    ],
)
def test_paths_with_dot_segments_have_no_owner(path: str) -> None:
    assert owner_of(path) is None


def test_dots_inside_a_segment_are_ordinary() -> None:
    assert owner_of("/v1/time-entries/export.csv") == "timecapture"
    assert owner_of("/v1/invoices/...") == "invoicing"
