"""The gateway in front of tiny upstream apps: authentication, forwarding and failure modes."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response

from gateway.app import define
from gateway.settings import GatewaySettings
from servicekit.identity import IDENTITY_HEADER, Identity, IdentityVerifier
from servicekit.problems import PROBLEM_JSON, UnauthorizedError
from servicekit.service import create_app
from servicekit.testing import Infra, serve

pytestmark = pytest.mark.integration

API_KEY = "bsk_test_gateway_proxy"
MAX_BODY = 1024
SLOW_S = 2.0


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    identity: Identity | str


@dataclass
class Gateway:
    url: str
    tenant_id: uuid.UUID
    seen: list[Seen] = field(default_factory=list)


def echo_app(verifier: IdentityVerifier, seen: list[Seen]) -> FastAPI:
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def echo(request: Request, path: str) -> Response:
        try:
            identity: Identity | str = verifier.verify(request.headers.get(IDENTITY_HEADER, ""))
        except UnauthorizedError as exc:
            identity = exc.detail
        seen.append(
            Seen(
                method=request.method,
                path=request.url.path,
                query=request.url.query,
                headers=dict(request.headers),
                body=await request.body(),
                identity=identity,
            )
        )
        if path.endswith("/conflict"):
            return JSONResponse(
                {"type": "about:blank", "title": "Conflict", "status": 409},
                status_code=409,
                media_type=PROBLEM_JSON,
            )
        return JSONResponse(
            {"echo": request.url.path},
            status_code=201 if request.method == "POST" else 200,
            headers={"location": "/v1/time-entries/1", "etag": '"3"', "x-internal": "secret"},
        )

    return app


def slow_app() -> FastAPI:
    app = FastAPI()

    @app.get("/{path:path}")
    async def slow(path: str) -> dict[str, str]:
        await asyncio.sleep(SLOW_S)
        return {"path": path}

    return app


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture(scope="module")
async def gateway(infra: Infra) -> AsyncIterator[Gateway]:
    seen: list[Seen] = []
    tenant_id = uuid.uuid4()
    async with (
        serve(echo_app(IdentityVerifier(infra.public_key), seen)) as echo_url,
        serve(slow_app()) as slow_url,
    ):
        settings = infra.settings(
            GatewaySettings,
            identity_private_key=infra.private_key,
            dev_api_key=API_KEY,
            dev_tenant_id=tenant_id,
            timecapture_url=echo_url,
            invoicing_url=slow_url,
            payments_url=f"http://127.0.0.1:{closed_port()}",
            upstream_timeout_s=0.3,
            max_body_bytes=MAX_BODY,
        )
        async with serve(create_app(define(settings))) as url:
            yield Gateway(url, tenant_id, seen)


@pytest.fixture
async def http(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    gateway.seen.clear()
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        yield client


AUTH = {"Authorization": f"Bearer {API_KEY}"}


def assert_problem(r: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    problem: dict[str, Any] = r.json()
    assert problem["status"] == status
    assert problem["type"] == f"https://billstream.dev/problems/{slug}"
    return problem


async def test_request_without_key_is_401(gateway: Gateway, http: httpx.AsyncClient) -> None:
    r = await http.get("/v1/time-entries")

    assert_problem(r, 401, "unauthorized")
    assert r.headers["www-authenticate"] == "Bearer"
    assert "www_authenticate" not in r.json()
    assert gateway.seen == []


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": "Bearer bsk_wrong"}, {"X-API-Key": "bsk_wrong"}, {"Authorization": API_KEY}],
    ids=["wrong-bearer", "wrong-x-api-key", "no-scheme"],
)
async def test_request_with_wrong_key_is_401(
    gateway: Gateway, http: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    r = await http.post("/v1/time-entries", json={}, headers=headers)

    assert_problem(r, 401, "unauthorized")
    assert r.headers["www-authenticate"] == "Bearer"
    assert gateway.seen == []


@pytest.mark.parametrize("path", ["/v1/nowhere", "/v1/nowhere/123", "/v1/"])
async def test_unknown_v1_path_is_404(gateway: Gateway, http: httpx.AsyncClient, path: str) -> None:
    r = await http.get(path, headers=AUTH)

    problem = assert_problem(r, 404, "route-not-found")
    assert problem["instance"] == path
    assert gateway.seen == []


async def test_unreachable_service_is_502(http: httpx.AsyncClient) -> None:
    r = await http.get("/v1/payments", headers=AUTH)

    problem = assert_problem(r, 502, "upstream-unavailable")
    assert "payments" in problem["detail"]


async def test_slow_service_is_504(http: httpx.AsyncClient) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()

    r = await http.get("/v1/invoices", headers=AUTH)

    problem = assert_problem(r, 504, "upstream-timeout")
    assert "invoicing" in problem["detail"]
    assert loop.time() - started < SLOW_S


async def test_forwards_request_headers_and_a_verified_identity(
    gateway: Gateway, http: httpx.AsyncClient
) -> None:
    r = await http.post(
        "/v1/time-entries?dry_run=true&tag=a&tag=b",
        content=b'{"hello": "world"}',
        headers={
            **AUTH,
            "Content-Type": "application/json",
            "Idempotency-Key": "idem-123",
            "X-Request-ID": "req-abc",
            "Cookie": "session=1",
        },
    )

    assert r.status_code == 201, r.text
    assert r.json() == {"echo": "/v1/time-entries"}
    [seen] = gateway.seen
    assert seen.method == "POST"
    assert seen.path == "/v1/time-entries"
    assert seen.query == "dry_run=true&tag=a&tag=b"
    assert seen.body == b'{"hello": "world"}'
    assert seen.identity == Identity(gateway.tenant_id, "dev-api-key", "admin")
    assert seen.headers["idempotency-key"] == "idem-123"
    assert seen.headers["x-request-id"] == "req-abc"
    assert seen.headers["content-type"] == "application/json"
    assert "traceparent" in seen.headers
    assert "authorization" not in seen.headers
    assert "cookie" not in seen.headers


async def test_returns_only_safe_response_headers(http: httpx.AsyncClient) -> None:
    r = await http.post("/v1/time-entries", json={}, headers={**AUTH, "X-Request-ID": "req-1"})

    assert r.status_code == 201
    assert r.headers["location"] == "/v1/time-entries/1"
    assert r.headers["etag"] == '"3"'
    assert r.headers["x-request-id"] == "req-1"
    assert "x-internal" not in r.headers


async def test_x_api_key_is_accepted_and_not_forwarded(
    gateway: Gateway, http: httpx.AsyncClient
) -> None:
    r = await http.get("/v1/projects", headers={"X-API-Key": API_KEY})

    assert r.status_code == 200, r.text
    [seen] = gateway.seen
    assert seen.identity == Identity(gateway.tenant_id, "dev-api-key", "admin")
    assert "x-api-key" not in seen.headers


async def test_generated_request_id_is_forwarded_and_returned(
    gateway: Gateway, http: httpx.AsyncClient
) -> None:
    r = await http.get("/v1/clients", headers=AUTH)

    assert r.status_code == 200, r.text
    [seen] = gateway.seen
    assert seen.headers["x-request-id"] == r.headers["x-request-id"]
    assert uuid.UUID(r.headers["x-request-id"])


async def test_upstream_problem_passes_through(http: httpx.AsyncClient) -> None:
    r = await http.put("/v1/time-entries/1/conflict", json={}, headers=AUTH)

    assert r.status_code == 409
    assert r.headers["content-type"] == PROBLEM_JSON
    assert r.json() == {"type": "about:blank", "title": "Conflict", "status": 409}


async def test_body_over_the_limit_is_413(gateway: Gateway, http: httpx.AsyncClient) -> None:
    r = await http.post(
        "/v1/time-entries",
        content=b"x" * (MAX_BODY + 1),
        headers={**AUTH, "Content-Type": "application/json"},
    )

    problem = assert_problem(r, 413, "payload-too-large")
    assert str(MAX_BODY) in problem["detail"]
    assert gateway.seen == []


async def test_body_at_the_limit_is_forwarded(gateway: Gateway, http: httpx.AsyncClient) -> None:
    r = await http.post(
        "/v1/time-entries",
        content=b"x" * MAX_BODY,
        headers={**AUTH, "Content-Type": "application/json"},
    )

    assert r.status_code == 201, r.text
    [seen] = gateway.seen
    assert len(seen.body) == MAX_BODY


@pytest.mark.parametrize(
    "path",
    [
        "/v1/time-entries/%2E%2E/%2E%2E/metrics",
        "/v1/time-entries/%2e%2e/%2E%2E/openapi.json",
        "/v1/payments/%2E%2E/time-entries",
        "/v1/time-entries/%2E/1",
    ],
)
async def test_dot_segments_are_not_routed(
    gateway: Gateway, http: httpx.AsyncClient, path: str
) -> None:
    r = await http.get(path, headers=AUTH)

    assert_problem(r, 404, "route-not-found")
    assert gateway.seen == []
