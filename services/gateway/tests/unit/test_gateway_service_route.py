"""The proxy route tried first: it takes exactly the paths of a service's resources."""

from __future__ import annotations

import pytest
from starlette.routing import Match

from gateway.api.proxy import ServiceRoute


def scope(path: str, method: str = "GET", root_path: str = "") -> dict[str, object]:
    return {"type": "http", "method": method, "path": path, "root_path": root_path}


@pytest.mark.parametrize(
    ("path", "rest"),
    [("/v1/time-entries", "time-entries"), ("/v1/payments/abc/refunds", "payments/abc/refunds")],
)
def test_a_service_path_matches_with_its_rest_as_the_path_param(path: str, rest: str) -> None:
    match, child = ServiceRoute().matches(scope(path, "POST"))
    assert match == Match.FULL
    assert child["path_params"] == {"path": rest}
    assert child["route"].path == "/v1/{path:path}"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/tenants",  # the gateway's own
        "/v1/api-keys/x",
        "/v1/users",
        "/v1/auth/token",
        "/v1/nowhere",  # unknown: the catch-all route answers route-not-found
        "/v1/clients/../api-keys",  # dot segments: refused by the catch-all too
        "//v1/payments",  # not /v1/... exactly
        "/openapi.json",
        "/metrics",
    ],
)
def test_anything_else_goes_on_to_the_other_routes(path: str) -> None:
    assert ServiceRoute().matches(scope(path))[0] == Match.NONE


def test_other_methods_and_a_root_path() -> None:
    assert ServiceRoute().matches(scope("/v1/clients", "HEAD"))[0] == Match.NONE
    assert ServiceRoute().matches(scope("/api/v1/clients", root_path="/api"))[0] == Match.FULL
