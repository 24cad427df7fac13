"""`/v1/time-entries` against the real Postgres and broker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from servicekit.identity import IDENTITY_HEADER, Identity, IdentitySigner, generate_keypair
from servicekit.problems import PROBLEM_JSON
from servicekit.service import create_app
from servicekit.testing import Infra, serve
from timecapture.app import define
from timecapture.settings import TimecaptureSettings

if TYPE_CHECKING:
    from conftest import Catalog, TimecaptureProbe

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def base_url(infra: Infra) -> AsyncIterator[str]:
    async with serve(create_app(define(infra.settings(TimecaptureSettings)))) as url:
        yield url


async def log_entry(
    http: httpx.AsyncClient,
    base_url: str,
    probe: TimecaptureProbe,
    tenant_id: uuid.UUID,
    catalog: Catalog,
) -> dict[str, Any]:
    r = await http.post(
        f"{base_url}/v1/time-entries",
        json=probe.entry_body(catalog),
        headers=probe.headers(tenant_id),
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_logged_entry_is_stored_and_published_once(
    http: httpx.AsyncClient,
    base_url: str,
    probe: TimecaptureProbe,
    tenant_id: uuid.UUID,
    catalog: Catalog,
) -> None:
    sent = probe.entry_body(catalog)
    r = await http.post(f"{base_url}/v1/time-entries", json=sent, headers=probe.headers(tenant_id))

    assert r.status_code == 201, r.text
    entry = r.json()
    assert r.headers["location"] == f"/v1/time-entries/{entry['id']}"
    assert r.headers["etag"] == '"1"'
    assert entry["version"] == 1
    assert entry["duration_seconds"] == 50 * 60
    assert entry["member_id"] == sent["member_id"]
    assert entry["billable"] is True

    [row] = await probe.entries(tenant_id)
    assert str(row["id"]) == entry["id"]
    assert row["tenant_id"] == tenant_id
    assert row["started_at"] == datetime.fromisoformat(sent["started_at"])
    assert row["ended_at"] == datetime.fromisoformat(sent["ended_at"])
    assert row["tags"] == ["internal"]

    await probe.outbox_drained(tenant_id)
    [message] = await probe.published(tenant_id)
    event = message.event
    assert event.event_type == "time_entry.logged"
    assert str(event.payload.entry_id) == entry["id"]
    assert event.payload.version == 1
    assert event.payload.duration_seconds == 50 * 60
    assert event.producer == "timecapture"
    assert message.key == entry["id"].encode()
    assert message.headers["event_type"] == "time_entry.logged"
    assert message.headers["event_id"] == str(event.event_id)


async def test_get_returns_the_logged_entry(
    http: httpx.AsyncClient,
    base_url: str,
    probe: TimecaptureProbe,
    tenant_id: uuid.UUID,
    catalog: Catalog,
) -> None:
    entry = await log_entry(http, base_url, probe, tenant_id, catalog)

    r = await http.get(
        f"{base_url}/v1/time-entries/{entry['id']}", headers=probe.headers(tenant_id)
    )

    assert r.status_code == 200, r.text
    assert r.json() == entry
    assert r.headers["etag"] == '"1"'


async def test_another_tenants_entry_is_not_found(
    http: httpx.AsyncClient,
    base_url: str,
    probe: TimecaptureProbe,
    tenant_id: uuid.UUID,
    catalog: Catalog,
) -> None:
    entry = await log_entry(http, base_url, probe, tenant_id, catalog)

    r = await http.get(
        f"{base_url}/v1/time-entries/{entry['id']}", headers=probe.headers(uuid.uuid4())
    )

    assert r.status_code == 404
    assert r.headers["content-type"] == PROBLEM_JSON
    problem = r.json()
    assert problem["type"].endswith("/time-entry-not-found")
    assert problem["status"] == 404
    assert entry["id"] in problem["detail"]


def _past(hours: float) -> str:
    return (datetime.now(UTC).replace(microsecond=0) - timedelta(hours=hours)).isoformat()


def _future(hours: float) -> str:
    return (datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours)).isoformat()


INVALID_BODIES: dict[str, tuple[dict[str, Any], str]] = {
    "ended-before-start": ({"started_at": _past(3), "ended_at": _past(4)}, "#/ended_at"),
    "ended-and-duration": ({"duration_minutes": 30}, "#/ended_at"),
    "unknown-field": ({"colour": "red"}, "#/colour"),
    "bad-uuid": ({"project_id": "not-a-uuid"}, "#/project_id"),
    "naive-start": ({"started_at": "2025-01-01T09:00:00"}, "#/started_at"),
    "ends-in-future": ({"started_at": _past(1), "ended_at": _future(1)}, "#/ended_at"),
    "over-a-day": ({"started_at": _past(30), "ended_at": _past(5)}, "#/ended_at"),
}


@pytest.mark.parametrize(("overrides", "pointer"), INVALID_BODIES.values(), ids=INVALID_BODIES)
async def test_invalid_entry_is_422_and_writes_nothing(
    http: httpx.AsyncClient,
    base_url: str,
    probe: TimecaptureProbe,
    tenant_id: uuid.UUID,
    overrides: dict[str, Any],
    pointer: str,
    catalog: Catalog,
) -> None:
    r = await http.post(
        f"{base_url}/v1/time-entries",
        json=probe.entry_body(catalog, **overrides),
        headers=probe.headers(tenant_id),
    )

    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    problem = r.json()
    assert problem["status"] == 422
    assert pointer in [e["pointer"] for e in problem["errors"]]
    await probe.assert_nothing_written(tenant_id)


async def test_malformed_json_is_422_and_writes_nothing(
    http: httpx.AsyncClient,
    base_url: str,
    probe: TimecaptureProbe,
    tenant_id: uuid.UUID,
    catalog: Catalog,
) -> None:
    r = await http.post(
        f"{base_url}/v1/time-entries",
        content=b'{"member_id": "',
        headers={**probe.headers(tenant_id), "content-type": "application/json"},
    )

    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    problem = r.json()
    assert problem["status"] == 422
    assert problem["errors"] == [{"pointer": "#", "detail": "JSON decode error"}]
    await probe.assert_nothing_written(tenant_id)


async def test_bad_entry_id_in_path_is_422(
    http: httpx.AsyncClient,
    base_url: str,
    probe: TimecaptureProbe,
    tenant_id: uuid.UUID,
    catalog: Catalog,
) -> None:
    r = await http.get(f"{base_url}/v1/time-entries/not-a-uuid", headers=probe.headers(tenant_id))

    assert r.status_code == 422
    assert r.headers["content-type"] == PROBLEM_JSON
    assert {"parameter": "entry_id", "in": "path"}.items() <= r.json()["errors"][0].items()


async def test_missing_identity_is_401(
    http: httpx.AsyncClient, base_url: str, probe: TimecaptureProbe, catalog: Catalog
) -> None:
    r = await http.post(f"{base_url}/v1/time-entries", json=probe.entry_body(catalog))

    assert r.status_code == 401
    assert r.headers["content-type"] == PROBLEM_JSON
    assert r.json()["type"].endswith("/unauthorized")


async def test_identity_signed_by_another_key_is_401(
    http: httpx.AsyncClient,
    base_url: str,
    probe: TimecaptureProbe,
    tenant_id: uuid.UUID,
    catalog: Catalog,
) -> None:
    forged = IdentitySigner(generate_keypair()[0]).sign(Identity(tenant_id, "mallory", "admin"))

    r = await http.post(
        f"{base_url}/v1/time-entries",
        json=probe.entry_body(catalog),
        headers={IDENTITY_HEADER: forged},
    )

    assert r.status_code == 401
    assert r.headers["content-type"] == PROBLEM_JSON
    await probe.assert_nothing_written(tenant_id)
