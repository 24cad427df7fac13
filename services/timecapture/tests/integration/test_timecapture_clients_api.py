"""`/v1/clients` against the real Postgres and broker: pages, versions, events, roles."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import pytest

from servicekit.db import set_tenant
from servicekit.identity import IDENTITY_HEADER, Identity, Role
from servicekit.problems import PROBLEM_JSON
from servicekit.service import create_app
from servicekit.testing import Infra, eventually, serve
from timecapture.app import define
from timecapture.settings import TimecaptureSettings

if TYPE_CHECKING:
    from conftest import TimecaptureProbe

pytestmark = pytest.mark.integration

CLIENTS = "client-changed"
PROJECTS = "project-changed"


@pytest.fixture(scope="module")
async def api(infra: Infra) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        serve(create_app(define(infra.settings(TimecaptureSettings)))) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        yield http


def as_role(infra: Infra, tenant_id: uuid.UUID, role: Role) -> dict[str, str]:
    return {IDENTITY_HEADER: infra.token(Identity(tenant_id, f"{role}-1", role))}


async def published(probe: TimecaptureProbe, topic: str, tenant_id: uuid.UUID) -> list[Any]:
    """Payloads of the tenant's events on `topic`, once the outbox has drained."""
    await probe.outbox_drained(tenant_id)
    return [event.payload for _, event in await probe.events_on(topic, tenant_id)]


async def clients_stored(probe: TimecaptureProbe, tenant_id: uuid.UUID) -> list[Any]:
    return await probe.infra.fetch_as_tenant(
        "timecapture", tenant_id, "SELECT * FROM clients ORDER BY created_at, id"
    )


async def assert_unchanged(
    probe: TimecaptureProbe, tenant_id: uuid.UUID, rows: list[Any], events: int
) -> None:
    """A rejected request left the client rows as they were and published nothing."""
    assert await clients_stored(probe, tenant_id) == rows
    assert await probe.outbox(tenant_id) == []
    assert len(await published(probe, CLIENTS, tenant_id)) == events
    assert await published(probe, PROJECTS, tenant_id) == []


def client_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"Acme {uuid.uuid4().hex[:8]}",
        "contact_emails": ["billing@acme.example"],
        "billing_address": "1 Main St",
        "currency": "EUR",
        "payment_terms_days": 14,
        "tax_id": "DE123",
        "notes": "pays late",
    }
    body.update(overrides)
    return body


async def create_client(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, **overrides: Any
) -> dict[str, Any]:
    r = await api.post(
        "/v1/clients", json=client_body(**overrides), headers=probe.headers(tenant_id)
    )
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    # Published before the next step: a rejected request after it must leave the outbox
    # empty, and the relay may not have taken this row yet.
    await probe.outbox_drained(tenant_id)
    return created


async def log_time_on(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, client_id: str
) -> str:
    """A project of the client, a member and one entry: the client now has time."""
    headers = probe.headers(tenant_id)
    project = await api.post(
        "/v1/projects", json={"client_id": client_id, "name": "Site"}, headers=headers
    )
    assert project.status_code == 201, project.text
    member = await api.post(
        "/v1/members",
        json={"name": "Ada", "email": f"{uuid.uuid4().hex[:8]}@example.com"},
        headers=headers,
    )
    assert member.status_code == 201, member.text
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    entry = await api.post(
        "/v1/time-entries",
        json={
            "member_id": member.json()["id"],
            "project_id": project.json()["id"],
            "started_at": start.isoformat(),
            "duration_minutes": 30,
        },
        headers=headers,
    )
    assert entry.status_code == 201, entry.text
    project_id: str = project.json()["id"]
    return project_id


async def test_created_client_is_stored_readable_and_published_with_full_state(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID
) -> None:
    sent = client_body(default_tax_rate_id=str(uuid.uuid4()))
    r = await api.post("/v1/clients", json=sent, headers=probe.headers(tenant_id))

    assert r.status_code == 201, r.text
    created = r.json()
    assert r.headers["location"] == f"/v1/clients/{created['id']}"
    assert r.headers["etag"] == '"1"'
    assert {k: created[k] for k in sent} == sent
    assert (created["version"], created["archived"]) == (1, False)

    got = await api.get(f"/v1/clients/{created['id']}", headers=probe.headers(tenant_id))
    assert got.status_code == 200, got.text
    assert got.json() == created
    assert got.headers["etag"] == '"1"'
    [row] = await clients_stored(probe, tenant_id)
    assert str(row["id"]) == created["id"]
    assert row["tenant_id"] == tenant_id

    await probe.outbox_drained(tenant_id)
    [(key, event)] = await probe.events_on(CLIENTS, tenant_id)
    assert key == created["id"].encode()
    assert event.event_type == "client.changed"
    state = event.payload
    assert str(state.client_id) == created["id"]
    assert state.version == 1
    assert (state.name, state.currency, state.payment_terms_days) == (sent["name"], "EUR", 14)
    assert state.contact_emails == ["billing@acme.example"]
    assert (state.billing_address, state.tax_id) == ("1 Main St", "DE123")
    assert str(state.default_tax_rate_id) == sent["default_tax_rate_id"]
    assert (state.archived, state.deleted) == (False, False)


INVALID_CLIENTS: dict[str, tuple[dict[str, Any], str]] = {
    "unknown-currency": ({"currency": "XXY"}, "#/currency"),
    "lowercase-currency": ({"currency": "eur"}, "#/currency"),
    "empty-name": ({"name": ""}, "#/name"),
    "terms-over-a-year": ({"payment_terms_days": 366}, "#/payment_terms_days"),
    "bad-email": ({"contact_emails": ["not-an-email"]}, "#/contact_emails/0"),
    "unknown-field": ({"colour": "red"}, "#/colour"),
}


@pytest.mark.parametrize(("overrides", "pointer"), INVALID_CLIENTS.values(), ids=INVALID_CLIENTS)
async def test_invalid_client_is_422_and_writes_nothing(
    api: httpx.AsyncClient,
    probe: TimecaptureProbe,
    tenant_id: uuid.UUID,
    overrides: dict[str, Any],
    pointer: str,
) -> None:
    r = await api.post(
        "/v1/clients", json=client_body(**overrides), headers=probe.headers(tenant_id)
    )

    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    assert pointer in [e["pointer"] for e in r.json()["errors"]]
    await assert_unchanged(probe, tenant_id, [], 0)


async def pages(
    api: httpx.AsyncClient, headers: dict[str, str], path: str, **params: Any
) -> list[list[dict[str, Any]]]:
    """Every page of a list, following `next_cursor`."""
    found: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        r = await api.get(path, params=query, headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()
        found.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return found


async def test_pages_by_name_hold_every_client_once_even_with_inserts_between(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID
) -> None:
    headers = probe.headers(tenant_id)
    for name in ["delta", "alpha", "echo", "charlie", "bravo", "foxtrot", "golf"]:
        await create_client(api, probe, tenant_id, name=name)

    first = await api.get("/v1/clients", params={"limit": 3}, headers=headers)
    assert first.status_code == 200, first.text
    # A client sorting before the cursor, created between pages, neither repeats nor shifts.
    await create_client(api, probe, tenant_id, name="aardvark")
    rest = await pages(api, headers, "/v1/clients", limit=3, cursor=first.json()["next_cursor"])

    names = [c["name"] for page in [first.json()["items"], *rest] for c in page]
    assert [len(page) for page in [first.json()["items"], *rest]] == [3, 3, 1]
    assert names == sorted(names)
    assert set(names) == {"delta", "alpha", "echo", "charlie", "bravo", "foxtrot", "golf"}
    assert len(names) == len(set(names))

    everything = await pages(api, headers, "/v1/clients", limit=500)
    assert [len(p) for p in everything] == [8]
    assert everything[0][0]["name"] == "aardvark"


async def test_pages_by_newest_first_follow_creation_order_backwards(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID
) -> None:
    created = [(await create_client(api, probe, tenant_id))["id"] for _ in range(5)]

    found = await pages(api, probe.headers(tenant_id), "/v1/clients", sort="-created_at", limit=2)

    assert [len(p) for p in found] == [2, 2, 1]
    assert [c["id"] for page in found for c in page] == created[::-1]
    ascending = await pages(
        api, probe.headers(tenant_id), "/v1/clients", sort="created_at", limit=2
    )
    assert [c["id"] for page in ascending for c in page] == created


async def test_list_filters_by_archived_name_and_currency(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID
) -> None:
    headers = probe.headers(tenant_id)
    euro = await create_client(api, probe, tenant_id, name="Blue Whale Ltd")
    dollar = await create_client(api, probe, tenant_id, name="blue_sky 100%", currency="USD")
    old = await create_client(api, probe, tenant_id, name="Red Fox", currency="USD")
    archived = await api.patch(
        f"/v1/clients/{old['id']}", json={"archived": True}, headers={**headers, "If-Match": '"1"'}
    )
    assert archived.status_code == 200, archived.text

    async def ids(**params: Any) -> list[str]:
        query = {"sort": "created_at", **params}
        r = await api.get("/v1/clients", params=query, headers=headers)
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["items"]]

    assert await ids(archived="true") == [old["id"]]
    assert await ids(archived="false") == [euro["id"], dollar["id"]]
    assert await ids(q="BLUE") == [euro["id"], dollar["id"]]
    # LIKE wildcards in `q` match literally.
    assert await ids(q="_sky") == [dollar["id"]]
    assert await ids(q="100%") == [dollar["id"]]
    assert await ids(q="e_w") == []
    assert await ids(currency="USD") == [dollar["id"], old["id"]]
    assert await ids(currency="USD", archived="false") == [dollar["id"]]


BAD_LIST_PARAMS: dict[str, tuple[dict[str, Any], str]] = {
    "unknown-sort": ({"sort": "notes"}, "sort"),
    "garbage-cursor": ({"cursor": "not a cursor!"}, "cursor"),
    "json-but-not-a-cursor": (
        {"cursor": base64.urlsafe_b64encode(b'{"a": 1}').decode()},
        "cursor",
    ),
    # UUID(5) raised AttributeError: was a 500.
    "cursor-id-not-a-string": (
        {"cursor": base64.urlsafe_b64encode(b'["name","a",5]').decode()},
        "cursor",
    ),
    "limit-zero": ({"limit": 0}, "limit"),
    "limit-too-large": ({"limit": 501}, "limit"),
    "lowercase-currency": ({"currency": "usd"}, "currency"),
}


@pytest.mark.parametrize(("params", "parameter"), BAD_LIST_PARAMS.values(), ids=BAD_LIST_PARAMS)
async def test_bad_list_parameter_is_422_naming_it(
    api: httpx.AsyncClient,
    probe: TimecaptureProbe,
    tenant_id: uuid.UUID,
    params: dict[str, Any],
    parameter: str,
) -> None:
    r = await api.get("/v1/clients", params=params, headers=probe.headers(tenant_id))

    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    [error] = r.json()["errors"]
    assert (error["parameter"], error["in"]) == (parameter, "query")


async def test_cursor_of_another_sort_is_422(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID
) -> None:
    headers = probe.headers(tenant_id)
    for _ in range(2):
        await create_client(api, probe, tenant_id)
    first = await api.get("/v1/clients", params={"limit": 1}, headers=headers)
    cursor = first.json()["next_cursor"]
    assert cursor is not None

    r = await api.get(
        "/v1/clients", params={"limit": 1, "cursor": cursor, "sort": "-name"}, headers=headers
    )

    assert r.status_code == 422, r.text
    [error] = r.json()["errors"]
    assert error["parameter"] == "cursor"
    assert "sort=name" in error["detail"]


def forged_cursor(sort: str, value: Any) -> str:
    raw = json.dumps([sort, value, str(uuid.uuid4())]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [forged_cursor("created_at", "soon"), forged_cursor("created_at", [1, 2])],
    ids=["not-a-time", "a-list"],
)
async def test_cursor_with_a_value_of_the_wrong_type_is_422(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, cursor: str
) -> None:
    r = await api.get(
        "/v1/clients",
        params={"sort": "created_at", "cursor": cursor},
        headers=probe.headers(tenant_id),
    )

    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["parameter"] == "cursor"


async def test_patch_without_if_match_is_428_and_changes_nothing(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID
) -> None:
    client = await create_client(api, probe, tenant_id)
    rows = await clients_stored(probe, tenant_id)

    r = await api.patch(
        f"/v1/clients/{client['id']}", json={"name": "Renamed"}, headers=probe.headers(tenant_id)
    )

    assert r.status_code == 428, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    assert r.json()["errors"] == [{"parameter": "If-Match", "in": "header", "detail": "required"}]
    await assert_unchanged(probe, tenant_id, rows, 1)


async def test_patch_with_a_stale_version_is_412_with_the_current_etag(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID
) -> None:
    headers = probe.headers(tenant_id)
    client = await create_client(api, probe, tenant_id)
    first = await api.patch(
        f"/v1/clients/{client['id']}",
        json={"payment_terms_days": 45},
        headers={**headers, "If-Match": '"1"'},
    )
    assert first.status_code == 200, first.text
    rows = await clients_stored(probe, tenant_id)

    r = await api.patch(
        f"/v1/clients/{client['id']}",
        json={"name": "Lost update"},
        headers={**headers, "If-Match": '"1"'},
    )

    assert r.status_code == 412, r.text
    assert r.headers["etag"] == '"2"'
    assert r.json()["current_version"] == 2
    await assert_unchanged(probe, tenant_id, rows, 2)


async def test_patch_at_the_current_version_bumps_it_and_publishes_the_full_state(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID
) -> None:
    client = await create_client(api, probe, tenant_id)

    r = await api.patch(
        f"/v1/clients/{client['id']}",
        json={"name": "Acme Renamed", "tax_id": None, "contact_emails": ["a@x.example"]},
        headers={**probe.headers(tenant_id), "If-Match": '"1"'},
    )

    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"2"'
    revised = r.json()
    assert revised["version"] == 2
    assert (revised["name"], revised["tax_id"]) == ("Acme Renamed", None)
    assert revised["contact_emails"] == ["a@x.example"]
    assert revised["billing_address"] == client["billing_address"]
    assert revised["updated_at"] > client["updated_at"]
    assert revised["created_at"] == client["created_at"]
    got = await api.get(f"/v1/clients/{client['id']}", headers=probe.headers(tenant_id))
    assert got.json() == revised

    created, changed = await published(probe, CLIENTS, tenant_id)
    assert (created.version, changed.version) == (1, 2)
    assert (changed.name, changed.tax_id, changed.contact_emails) == (
        "Acme Renamed",
        None,
        ["a@x.example"],
    )
    # Full state, not only what changed.
    assert (changed.currency, changed.payment_terms_days) == ("EUR", 14)
    assert changed.billing_address == "1 Main St"


async def test_if_match_star_accepts_any_version(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID
) -> None:
    client = await create_client(api, probe, tenant_id)

    r = await api.patch(
        f"/v1/clients/{client['id']}",
        json={"notes": "whatever is there"},
        headers={**probe.headers(tenant_id), "If-Match": "*"},
    )

    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2


async def test_patch_that_changes_nothing_keeps_the_version_and_publishes_nothing(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID
) -> None:
    client = await create_client(api, probe, tenant_id)
    rows = await clients_stored(probe, tenant_id)

    r = await api.patch(
        f"/v1/clients/{client['id']}",
        json={
            "name": client["name"],
            "currency": "EUR",
            "contact_emails": client["contact_emails"],
            "tax_id": client["tax_id"],
        },
        headers={**probe.headers(tenant_id), "If-Match": '"1"'},
    )

    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"1"'
    assert r.json() == client
    await assert_unchanged(probe, tenant_id, rows, 1)


async def test_null_for_a_required_field_is_422(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID
) -> None:
    client = await create_client(api, probe, tenant_id)
    rows = await clients_stored(probe, tenant_id)

    r = await api.patch(
        f"/v1/clients/{client['id']}",
        json={"currency": None},
        headers={**probe.headers(tenant_id), "If-Match": '"1"'},
    )

    assert r.status_code == 422, r.text
    assert [e["pointer"] for e in r.json()["errors"]] == ["#/currency"]
    await assert_unchanged(probe, tenant_id, rows, 1)


async def test_duplicate_name_is_409_on_create_and_on_rename(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID
) -> None:
    headers = probe.headers(tenant_id)
    await create_client(api, probe, tenant_id, name="Taken")
    other = await create_client(api, probe, tenant_id, name="Free")
    rows = await clients_stored(probe, tenant_id)

    created = await api.post("/v1/clients", json=client_body(name="Taken"), headers=headers)
    renamed = await api.patch(
        f"/v1/clients/{other['id']}", json={"name": "Taken"}, headers={**headers, "If-Match": '"1"'}
    )

    for r in (created, renamed):
        assert r.status_code == 409, r.text
        assert r.headers["content-type"] == PROBLEM_JSON
        assert r.json()["type"].endswith("/duplicate-value")
        assert [e["pointer"] for e in r.json()["errors"]] == ["#/name"]
    await assert_unchanged(probe, tenant_id, rows, 2)


async def test_concurrent_creates_of_one_name_let_exactly_one_in(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID
) -> None:
    responses = await asyncio.gather(
        *(
            api.post("/v1/clients", json=client_body(name="Race"), headers=probe.headers(tenant_id))
            for _ in range(10)
        )
    )

    assert sorted(r.status_code for r in responses) == [201] + [409] * 9
    [created] = [r.json() for r in responses if r.status_code == 201]
    assert [str(c["id"]) for c in await clients_stored(probe, tenant_id)] == [created["id"]]
    assert [str(s.client_id) for s in await published(probe, CLIENTS, tenant_id)] == [created["id"]]


async def test_same_name_in_another_tenant_is_allowed(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID
) -> None:
    await create_client(api, probe, tenant_id, name="Shared name")

    r = await api.post(
        "/v1/clients", json=client_body(name="Shared name"), headers=probe.headers(uuid.uuid4())
    )

    assert r.status_code == 201, r.text


async def test_currency_is_fixed_once_the_client_has_time(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID
) -> None:
    headers = probe.headers(tenant_id)
    free = await create_client(api, probe, tenant_id)
    changed = await api.patch(
        f"/v1/clients/{free['id']}",
        json={"currency": "USD"},
        headers={**headers, "If-Match": '"1"'},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["currency"] == "USD"

    busy = await create_client(api, probe, tenant_id)
    await log_time_on(api, probe, tenant_id, busy["id"])
    rows = await clients_stored(probe, tenant_id)
    await probe.outbox_drained(tenant_id)
    events = len(await published(probe, CLIENTS, tenant_id))

    r = await api.patch(
        f"/v1/clients/{busy['id']}",
        json={"currency": "USD", "name": "Also renamed"},
        headers={**headers, "If-Match": '"1"'},
    )

    assert r.status_code == 409, r.text
    problem = r.json()
    assert problem["type"].endswith("/client-currency-locked")
    assert [e["pointer"] for e in problem["errors"]] == ["#/currency"]
    assert await clients_stored(probe, tenant_id) == rows
    assert await probe.outbox(tenant_id) == []
    assert len(await published(probe, CLIENTS, tenant_id)) == events


async def test_delete_of_a_client_without_time_removes_it_and_its_projects(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID
) -> None:
    headers = probe.headers(tenant_id)
    client = await create_client(api, probe, tenant_id)
    kept = await create_client(api, probe, tenant_id)
    project_ids = []
    for name in ("One", "Two"):
        p = await api.post(
            "/v1/projects", json={"client_id": client["id"], "name": name}, headers=headers
        )
        assert p.status_code == 201, p.text
        project_ids.append(p.json()["id"])
    other = await api.post(
        "/v1/projects", json={"client_id": kept["id"], "name": "Other"}, headers=headers
    )
    assert other.status_code == 201, other.text

    r = await api.delete(f"/v1/clients/{client['id']}", headers={**headers, "If-Match": '"1"'})

    assert r.status_code == 204, r.text
    assert r.content == b""
    assert (await api.get(f"/v1/clients/{client['id']}", headers=headers)).status_code == 404
    for project_id in project_ids:
        assert (await api.get(f"/v1/projects/{project_id}", headers=headers)).status_code == 404
    assert [str(c["id"]) for c in await clients_stored(probe, tenant_id)] == [kept["id"]]

    client_events = [s for s in await published(probe, CLIENTS, tenant_id)]
    gone = [s for s in client_events if str(s.client_id) == client["id"]]
    assert [(s.version, s.deleted) for s in gone] == [(1, False), (1, True)]
    assert gone[-1].name == client["name"]
    project_events = await published(probe, PROJECTS, tenant_id)
    deleted = {str(s.project_id) for s in project_events if s.deleted}
    assert deleted == set(project_ids)
    assert not any(s.deleted for s in project_events if str(s.project_id) == other.json()["id"])


async def test_delete_of_a_client_with_time_archives_it(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID
) -> None:
    headers = probe.headers(tenant_id)
    client = await create_client(api, probe, tenant_id)
    project_id = await log_time_on(api, probe, tenant_id, client["id"])

    r = await api.delete(f"/v1/clients/{client['id']}", headers={**headers, "If-Match": '"1"'})

    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"2"'
    archived = r.json()
    assert (archived["archived"], archived["version"]) == (True, 2)
    got = await api.get(f"/v1/clients/{client['id']}", headers=headers)
    assert got.json() == archived
    assert (await api.get(f"/v1/projects/{project_id}", headers=headers)).status_code == 200
    states = await published(probe, CLIENTS, tenant_id)
    assert [(s.version, s.archived, s.deleted) for s in states] == [
        (1, False, False),
        (2, True, False),
    ]
    assert not any(s.deleted for s in await published(probe, PROJECTS, tenant_id))


async def test_delete_needs_the_current_version(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID
) -> None:
    headers = probe.headers(tenant_id)
    client = await create_client(api, probe, tenant_id)
    rows = await clients_stored(probe, tenant_id)

    missing = await api.delete(f"/v1/clients/{client['id']}", headers=headers)
    stale = await api.delete(f"/v1/clients/{client['id']}", headers={**headers, "If-Match": '"7"'})

    assert missing.status_code == 428, missing.text
    assert stale.status_code == 412, stale.text
    assert stale.headers["etag"] == '"1"'
    await assert_unchanged(probe, tenant_id, rows, 1)


@pytest.mark.parametrize("role", ["viewer", "member"])
async def test_viewers_and_members_cannot_write_clients(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, role: Role
) -> None:
    client = await create_client(api, probe, tenant_id)
    rows = await clients_stored(probe, tenant_id)
    headers = {**as_role(probe.infra, tenant_id, role), "If-Match": '"1"'}

    attempts = [
        await api.post("/v1/clients", json=client_body(), headers=headers),
        await api.patch(f"/v1/clients/{client['id']}", json={"name": "X"}, headers=headers),
        await api.delete(f"/v1/clients/{client['id']}", headers=headers),
    ]

    for r in attempts:
        assert r.status_code == 403, r.text
        assert r.headers["content-type"] == PROBLEM_JSON
        assert r.json()["required_roles"] == ["admin", "manager"]
    await assert_unchanged(probe, tenant_id, rows, 1)
    read = await api.get(f"/v1/clients/{client['id']}", headers=headers)
    assert read.status_code == 200, read.text
    listed = await api.get("/v1/clients", headers=headers)
    assert [c["id"] for c in listed.json()["items"]] == [client["id"]]


async def test_manager_role_writes_clients(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID
) -> None:
    r = await api.post(
        "/v1/clients", json=client_body(), headers=as_role(probe.infra, tenant_id, "manager")
    )

    assert r.status_code == 201, r.text


async def test_another_tenant_cannot_see_or_change_the_client(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID
) -> None:
    client = await create_client(api, probe, tenant_id)
    rows = await clients_stored(probe, tenant_id)
    intruder = {**probe.headers(uuid.uuid4()), "If-Match": '"1"'}
    url = f"/v1/clients/{client['id']}"

    attempts = [
        await api.get(url, headers=intruder),
        await api.patch(url, json={"name": "Mine now"}, headers=intruder),
        await api.delete(url, headers=intruder),
    ]

    for r in attempts:
        assert r.status_code == 404, r.text
        assert r.json()["type"].endswith("/client-not-found")
    listed = await api.get("/v1/clients", headers=intruder)
    assert listed.json()["items"] == []
    await assert_unchanged(probe, tenant_id, rows, 1)


async def test_delete_of_a_client_sees_time_committed_while_it_waited(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID
) -> None:
    headers = probe.headers(tenant_id)
    client = await create_client(api, probe, tenant_id)
    project = await api.post(
        "/v1/projects", json={"client_id": client["id"], "name": "Site"}, headers=headers
    )
    project_id = uuid.UUID(project.json()["id"])
    entry_id = uuid.uuid4()
    # An entry write in flight: it holds what POST /v1/time-entries holds until its commit.
    writer = await asyncpg.connect(probe.infra.dsn("timecapture"))
    try:
        async with writer.transaction():
            await set_tenant(writer, tenant_id)
            await writer.execute("SELECT 1 FROM projects WHERE id = $1 FOR KEY SHARE", project_id)
            await writer.execute(
                "INSERT INTO time_entries (tenant_id, id, member_id, project_id, started_at,"
                " ended_at, billable, created_at, updated_at) VALUES (current_tenant(), $1, $2,"
                " $3, now() - interval '2 hours', now() - interval '1 hour', true, now(), now())",
                entry_id,
                uuid.uuid4(),
                project_id,
            )
            deleting = asyncio.create_task(
                api.delete(f"/v1/clients/{client['id']}", headers={**headers, "If-Match": '"1"'})
            )

            async def waiting() -> bool:
                return bool(
                    await writer.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted")
                )

            await eventually(waiting, message="DELETE waiting for the entry's project lock")
        r = await deleting
    finally:
        await writer.close()

    assert r.status_code == 200, r.text
    assert r.json()["archived"] is True
    assert (await api.get(f"/v1/projects/{project_id}", headers=headers)).status_code == 200
    assert not any(s.deleted for s in await published(probe, PROJECTS, tenant_id))
