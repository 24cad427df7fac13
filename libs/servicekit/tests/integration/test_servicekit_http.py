from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from servicekit.identity import IDENTITY_HEADER, Identity, IdentitySigner, generate_keypair
from servicekit.problems import PROBLEM_JSON
from servicekit.service import create_app
from servicekit.testing import Infra, serve
from timecapture.app import define as define_timecapture
from timecapture.settings import TimecaptureSettings

pytestmark = pytest.mark.integration


@pytest.fixture
async def timecapture(infra: Infra) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(define_timecapture(infra.settings(TimecaptureSettings)))
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as http:
        yield http


def valid_body() -> dict[str, str]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    return {
        "member_id": str(uuid.uuid4()),
        "project_id": str(uuid.uuid4()),
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(minutes=30)).isoformat(),
    }


async def test_started_service_is_ready_with_every_check_ok(timecapture: httpx.AsyncClient) -> None:
    r = await timecapture.get("/readyz")

    assert r.status_code == 200, r.text
    assert r.json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "broker": "ok", "consumers": "ok"},
    }
    assert (await timecapture.get("/livez")).status_code == 200


async def test_a_consumer_whose_group_coordinator_ended_makes_the_service_unready(
    infra: Infra,
) -> None:
    app = create_app(define_timecapture(infra.settings(TimecaptureSettings)))
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as http:
        assert (await http.get("/readyz")).status_code == 200
        broker = app.state.runtime.broker
        # As aiokafka does on an error it cannot recover from: the coordinator's task ends.
        [group] = broker.subscribers  # one consumer for all of timecapture's topics
        assert group.group_id == "timecapture"
        task = group.consumer._coordinator._coordination_task
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

        r = await http.get("/readyz")

    assert r.status_code == 503, r.text
    assert r.json()["checks"]["consumers"] == "stopped: timecapture"
    assert r.json()["checks"]["broker"] == "ok"


@pytest.mark.parametrize("token", [None, "garbage", "a.b.c"])
async def test_v1_route_without_a_valid_identity_is_401_problem(
    timecapture: httpx.AsyncClient, token: str | None
) -> None:
    headers = {IDENTITY_HEADER: token} if token is not None else {}

    r = await timecapture.post("/v1/time-entries", json=valid_body(), headers=headers)

    assert r.status_code == 401, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    problem = r.json()
    assert problem["status"] == 401
    assert problem["type"] == "https://billstream.dev/problems/unauthorized"
    assert problem["instance"] == "/v1/time-entries"


async def test_token_from_an_untrusted_signer_is_401(
    timecapture: httpx.AsyncClient, infra: Infra, tenant_id: uuid.UUID
) -> None:
    forged = IdentitySigner(generate_keypair()[0]).sign(Identity(tenant_id, "mallory", "admin"))

    r = await timecapture.post(
        "/v1/time-entries", json=valid_body(), headers={IDENTITY_HEADER: forged}
    )

    assert r.status_code == 401, r.text
    assert r.headers["content-type"] == PROBLEM_JSON


async def test_bad_body_is_422_problem_pointing_at_each_field(
    timecapture: httpx.AsyncClient, infra: Infra, tenant_id: uuid.UUID
) -> None:
    token = infra.token(Identity(tenant_id, "ada", "member"))
    body = {**valid_body(), "member_id": "not-a-uuid", "tags": ["ok", ""], "colour": "red"}
    del body["project_id"]

    r = await timecapture.post("/v1/time-entries", json=body, headers={IDENTITY_HEADER: token})

    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    problem = r.json()
    assert problem["status"] == 422
    assert problem["type"] == "https://billstream.dev/problems/validation"
    pointers = sorted(e["pointer"] for e in problem["errors"])
    assert pointers == ["#/colour", "#/member_id", "#/project_id", "#/tags/1"]
    assert all(e["detail"] for e in problem["errors"])


async def test_valid_identity_reaches_the_route_in_its_tenant(
    timecapture: httpx.AsyncClient, infra: Infra, tenant_id: uuid.UUID
) -> None:
    token = infra.token(Identity(tenant_id, "ada", "member"))

    r = await timecapture.get("/v1/time-entries", headers={IDENTITY_HEADER: token})

    assert r.status_code == 200, r.text
    assert r.json() == {"items": [], "next_cursor": None}
