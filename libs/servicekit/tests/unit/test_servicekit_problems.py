from __future__ import annotations

import json
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from servicekit.problems import PROBLEM_JSON, install_problem_handlers, validation_problem


def body_of(errors: list[dict[str, Any]]) -> dict[str, Any]:
    response = validation_problem(errors, instance="/v1/things")
    assert response.status_code == 422
    assert response.media_type == PROBLEM_JSON
    parsed: dict[str, Any] = json.loads(bytes(response.body))
    return parsed


def test_body_locations_point_into_the_document() -> None:
    body = body_of(
        [
            {"loc": ("body", "member_id"), "msg": "Input should be a valid UUID"},
            {"loc": ("body", "tags", 0), "msg": "String should have at least 1 character"},
        ]
    )

    assert body["errors"] == [
        {"pointer": "#/member_id", "detail": "Input should be a valid UUID"},
        {"pointer": "#/tags/0", "detail": "String should have at least 1 character"},
    ]
    assert body["detail"] == "#/member_id: Input should be a valid UUID"
    assert body["status"] == 422
    assert body["type"] == "https://billstream.dev/problems/validation"
    assert body["instance"] == "/v1/things"


def test_query_locations_keep_their_source() -> None:
    body = body_of([{"loc": ("query", "limit"), "msg": "Input should be less than 500"}])

    assert body["errors"] == [
        {"parameter": "limit", "in": "query", "detail": "Input should be less than 500"}
    ]


def test_body_root_location_points_at_the_document() -> None:
    body = body_of([{"loc": ("body",), "msg": "Field required"}])

    assert body["errors"][0]["pointer"] == "#"


def test_keys_with_slash_or_tilde_are_escaped() -> None:
    body = body_of([{"loc": ("body", "a/b", "c~d"), "msg": "Extra inputs are not permitted"}])

    assert body["errors"][0]["pointer"] == "#/a~1b/c~0d"


def test_no_errors_still_gives_a_detail() -> None:
    body = body_of([])

    assert body["errors"] == []
    assert body["detail"] == "#: invalid request"


def test_characters_outside_a_uri_fragment_are_percent_encoded() -> None:
    body = body_of([{"loc": ("body", "unit price", "%"), "msg": "Extra inputs are not permitted"}])

    assert body["errors"][0]["pointer"] == "#/unit%20price/%25"


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError(),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.TooManyConnectionsError("too many clients"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_an_unreachable_database_is_503_with_retry_after(error: Exception) -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/v1/things")
    async def things() -> None:
        raise error

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        r = await http.get("/v1/things")

    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    assert r.headers["retry-after"] == "1"
    assert r.json()["type"] == "https://billstream.dev/problems/unavailable"


async def test_any_other_error_stays_a_500_problem() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/v1/things")
    async def things() -> None:
        raise KeyError("bug")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        r = await http.get("/v1/things")

    assert r.status_code == 500
    assert r.headers["content-type"] == PROBLEM_JSON
