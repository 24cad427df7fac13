"""`/v1/projects` and `/v1/members` against the real Postgres and broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
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

PROJECTS = "project-changed"


@pytest.fixture(scope="module")
async def api(infra: Infra) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        serve(create_app(define(infra.settings(TimecaptureSettings)))) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        yield http


@dataclass
class Tenant:
    """One tenant's view of the API, as an admin unless a role is given."""

    http: httpx.AsyncClient
    probe: TimecaptureProbe
    tenant_id: uuid.UUID

    def headers(self, role: Role = "admin", principal: str = "tester") -> dict[str, str]:
        token = self.probe.infra.token(Identity(self.tenant_id, principal, role))
        return {IDENTITY_HEADER: token}

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = await self.http.post(path, json=body, headers=self.headers())
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        # Published before the next step: a rejected request after it must leave the outbox
        # empty, and the relay may not have taken this row yet (a clean run failed so).
        await self.probe.outbox_drained(self.tenant_id)
        return created

    async def client(self, **overrides: Any) -> dict[str, Any]:
        body = {"name": f"Client {uuid.uuid4().hex[:8]}", "currency": "EUR", **overrides}
        return await self.create("/v1/clients", body)

    async def project(self, client_id: str, **overrides: Any) -> dict[str, Any]:
        body = {"client_id": client_id, "name": f"Project {uuid.uuid4().hex[:6]}", **overrides}
        return await self.create("/v1/projects", body)

    async def member(self, **overrides: Any) -> dict[str, Any]:
        body = {"name": "Ada", "email": f"{uuid.uuid4().hex[:10]}@example.com", **overrides}
        return await self.create("/v1/members", body)

    async def log(self, member_id: str, project_id: str, minutes: int, hours_ago: int) -> None:
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=hours_ago)
        r = await self.http.post(
            "/v1/time-entries",
            json={
                "member_id": member_id,
                "project_id": project_id,
                "started_at": start.isoformat(),
                "duration_minutes": minutes,
            },
            headers=self.headers(),
        )
        assert r.status_code == 201, r.text

    async def write(
        self, method: str, path: str, version: int | None, body: Any = None, **headers: str
    ) -> httpx.Response:
        sent = {**self.headers(), **headers}
        if version is not None:
            sent["If-Match"] = f'"{version}"'
        return await self.http.request(method, path, json=body, headers=sent)

    async def rows(self, table: str) -> list[Any]:
        return await self.probe.infra.fetch_as_tenant(
            "timecapture", self.tenant_id, f"SELECT * FROM {table} ORDER BY created_at, id"
        )

    async def project_states(self) -> list[Any]:
        await self.probe.outbox_drained(self.tenant_id)
        events = await self.probe.events_on(PROJECTS, self.tenant_id)
        assert all(key == str(e.payload.project_id).encode() for key, e in events)
        return [e.payload for _, e in events]

    async def assert_unchanged(self, table: str, rows: list[Any], events: int) -> None:
        """A rejected request left `table` as it was and published nothing."""
        assert await self.rows(table) == rows
        assert await self.probe.outbox(self.tenant_id) == []
        assert len(await self.project_states()) == events


@pytest.fixture
def t(api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID) -> Tenant:
    return Tenant(api, probe, tenant_id)


def problem_of(r: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    problem: dict[str, Any] = r.json()
    assert problem["type"].endswith(f"/{slug}"), problem
    return problem


def pointers(problem: dict[str, Any]) -> list[str]:
    return [e["pointer"] for e in problem["errors"]]


# Projects


async def test_created_project_is_readable_with_usage_and_published_with_full_state(
    t: Tenant,
) -> None:
    client = await t.client()
    manager = await t.member()
    sent = {
        "client_id": client["id"],
        "name": "Website",
        "code": "WEB-1",
        "billable_by_default": False,
        "budget_hours": "12.5",
        "budget_amount_minor": 150000,
        "rounding_increment_minutes": 15,
        "rounding_mode": "up",
        "manager_ids": [manager["id"]],
    }

    r = await t.http.post("/v1/projects", json=sent, headers=t.headers())

    assert r.status_code == 201, r.text
    created = r.json()
    assert r.headers["location"] == f"/v1/projects/{created['id']}"
    assert r.headers["etag"] == '"1"'
    assert {k: created[k] for k in sent if k != "budget_hours"} == {
        k: v for k, v in sent.items() if k != "budget_hours"
    }
    assert Decimal(created["budget_hours"]) == Decimal("12.5")
    got = await t.http.get(f"/v1/projects/{created['id']}", headers=t.headers())
    assert got.status_code == 200, got.text
    assert got.headers["etag"] == '"1"'
    assert got.json()["usage"] == {
        "tracked_seconds": 0,
        "cost_minor": 0,
        "unpriced_seconds": 0,
        "hours_percent": "0.0",
        "amount_percent": "0.0",
    }

    [state] = await t.project_states()
    assert str(state.project_id) == created["id"]
    assert str(state.client_id) == client["id"]
    assert (state.version, state.name, state.code) == (1, "Website", "WEB-1")
    assert (state.billable_by_default, state.budget_hours) == (False, Decimal("12.5"))
    assert state.budget_amount_minor == 150000
    assert (state.rounding_increment_minutes, state.rounding_mode) == (15, "up")
    assert (state.archived, state.deleted) == (False, False)


async def test_project_needs_an_active_client_of_the_tenant(t: Tenant) -> None:
    archived = await t.client()
    r = await t.write("PATCH", f"/v1/clients/{archived['id']}", 1, {"archived": True})
    assert r.status_code == 200, r.text
    elsewhere = await Tenant(t.http, t.probe, uuid.uuid4()).client()
    await t.probe.outbox_drained(t.tenant_id)

    for client_id in (str(uuid.uuid4()), elsewhere["id"], archived["id"]):
        r = await t.http.post(
            "/v1/projects", json={"client_id": client_id, "name": "X"}, headers=t.headers()
        )
        problem = problem_of(r, 422, "project-invalid")
        assert pointers(problem) == ["#/client_id"]
    await t.assert_unchanged("projects", [], 0)


async def test_managers_must_be_members_of_the_tenant(t: Tenant) -> None:
    client = await t.client()
    member = await t.member()
    stranger = await Tenant(t.http, t.probe, uuid.uuid4()).member()
    cases = {
        "#/manager_ids/0": [str(uuid.uuid4())],
        "#/manager_ids/1": [member["id"], stranger["id"]],
    }

    for pointer, manager_ids in cases.items():
        r = await t.http.post(
            "/v1/projects",
            json={"client_id": client["id"], "name": "X", "manager_ids": manager_ids},
            headers=t.headers(),
        )
        problem = problem_of(r, 422, "project-invalid")
        assert pointers(problem) == [pointer]
    await t.assert_unchanged("projects", [], 0)

    project = await t.project(client["id"], manager_ids=[member["id"]])
    rows = await t.rows("projects")
    r = await t.write(
        "PATCH",
        f"/v1/projects/{project['id']}",
        1,
        {"manager_ids": [member["id"], str(uuid.uuid4())]},
    )
    assert pointers(problem_of(r, 422, "project-invalid")) == ["#/manager_ids/1"]
    await t.assert_unchanged("projects", rows, 1)


async def test_code_is_unique_in_the_tenant(t: Tenant) -> None:
    client = await t.client()
    await t.project(client["id"], code="ACME")
    other = await t.project(client["id"], code="OTHER")
    rows = await t.rows("projects")

    created = await t.http.post(
        "/v1/projects",
        json={"client_id": client["id"], "name": "Y", "code": "ACME"},
        headers=t.headers(),
    )
    recoded = await t.write("PATCH", f"/v1/projects/{other['id']}", 1, {"code": "ACME"})

    for r in (created, recoded):
        assert pointers(problem_of(r, 409, "duplicate-value")) == ["#/code"]
    await t.assert_unchanged("projects", rows, 2)
    elsewhere = Tenant(t.http, t.probe, uuid.uuid4())
    await elsewhere.project((await elsewhere.client())["id"], code="ACME")


async def test_project_of_a_client_deleted_meanwhile_is_422(t: Tenant) -> None:
    client = await t.client()
    client_id = uuid.UUID(client["id"])
    # A client DELETE in flight: it has locked the client and deletes it.
    deleter = await asyncpg.connect(t.probe.infra.dsn("timecapture"))
    try:
        async with deleter.transaction():
            await set_tenant(deleter, t.tenant_id)
            await deleter.execute("SELECT 1 FROM clients WHERE id = $1 FOR UPDATE", client_id)
            creating = asyncio.create_task(
                t.http.post(
                    "/v1/projects",
                    json={"client_id": client["id"], "name": "Late"},
                    headers=t.headers(),
                )
            )

            async def waiting() -> bool:
                return bool(
                    await deleter.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted")
                )

            await eventually(waiting, message="POST waiting for the client lock")
            await deleter.execute("DELETE FROM clients WHERE id = $1", client_id)
        r = await creating
    finally:
        await deleter.close()

    assert pointers(problem_of(r, 422, "project-invalid")) == ["#/client_id"]
    await t.assert_unchanged("projects", [], 0)


INVALID_PROJECTS: dict[str, tuple[dict[str, Any], str]] = {
    "rounding-5": ({"rounding_increment_minutes": 5}, "#/rounding_increment_minutes"),
    "rounding-sideways": ({"rounding_mode": "sideways"}, "#/rounding_mode"),
    "code-with-space": ({"code": "A B"}, "#/code"),
    "negative-hours": ({"budget_hours": "-1"}, "#/budget_hours"),
    "hours-3-decimals": ({"budget_hours": "1.005"}, "#/budget_hours"),
    "negative-amount": ({"budget_amount_minor": -5}, "#/budget_amount_minor"),
    "no-name": ({"name": ""}, "#/name"),
}


@pytest.mark.parametrize(("overrides", "pointer"), INVALID_PROJECTS.values(), ids=INVALID_PROJECTS)
async def test_invalid_project_is_422_and_writes_nothing(
    t: Tenant, overrides: dict[str, Any], pointer: str
) -> None:
    client = await t.client()

    r = await t.http.post(
        "/v1/projects",
        json={"client_id": client["id"], "name": "P", **overrides},
        headers=t.headers(),
    )

    assert r.status_code == 422, r.text
    assert pointer in pointers(r.json())
    await t.assert_unchanged("projects", [], 0)


async def test_usage_counts_all_time_and_prices_what_it_can(t: Tenant) -> None:
    client = await t.client()
    project = await t.project(client["id"], budget_hours="2", budget_amount_minor=10000)
    priced = await t.member(cost_rate_minor=6000, cost_currency="EUR")
    unpriced = await t.member(cost_rate_minor=6000, cost_currency="USD")
    await t.log(priced["id"], project["id"], 30, hours_ago=5)
    await t.log(priced["id"], project["id"], 15, hours_ago=4)
    await t.log(unpriced["id"], project["id"], 45, hours_ago=5)

    r = await t.http.get(f"/v1/projects/{project['id']}", headers=t.headers())

    assert r.status_code == 200, r.text
    assert r.json()["usage"] == {
        "tracked_seconds": 90 * 60,
        "cost_minor": 4500,
        "unpriced_seconds": 45 * 60,
        "hours_percent": "75.0",
        "amount_percent": "45.0",
    }
    listed = await t.http.get("/v1/projects", headers=t.headers())
    assert listed.json()["items"][0]["usage"] is None


async def test_project_list_pages_and_filters(t: Tenant) -> None:
    acme, globex = await t.client(), await t.client()
    made = [
        await t.project(acme["id"], name="mobile app", code="M1"),
        await t.project(acme["id"], name="website", code="W1"),
        await t.project(globex["id"], name="web shop"),
        await t.project(globex["id"], name="audit"),
        await t.project(acme["id"], name="intranet"),
    ]
    r = await t.write("PATCH", f"/v1/projects/{made[3]['id']}", 1, {"archived": True})
    assert r.status_code == 200, r.text

    async def names(**params: Any) -> list[str]:
        r = await t.http.get("/v1/projects", params=params, headers=t.headers())
        assert r.status_code == 200, r.text
        return [p["name"] for p in r.json()["items"]]

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, "sort": "-created_at"}
        if cursor:
            params["cursor"] = cursor
        page = (await t.http.get("/v1/projects", params=params, headers=t.headers())).json()
        assert len(page["items"]) <= 2
        seen += [p["name"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [p["name"] for p in reversed(made)]

    assert await names() == sorted(p["name"] for p in made)
    assert await names(client_id=acme["id"]) == ["intranet", "mobile app", "website"]
    assert await names(archived="true") == ["audit"]
    assert await names(client_id=globex["id"], archived="false") == ["web shop"]
    assert await names(q="WEB") == ["web shop", "website"]
    assert await names(code="W1") == ["website"]
    bad = await t.http.get("/v1/projects", params={"sort": "code"}, headers=t.headers())
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["parameter"] == "sort"


async def test_project_patch_is_versioned_and_published(t: Tenant) -> None:
    client = await t.client()
    project = await t.project(client["id"], code="OLD")
    url = f"/v1/projects/{project['id']}"
    rows = await t.rows("projects")

    missing = await t.write("PATCH", url, None, {"name": "New"})
    stale = await t.write("PATCH", url, 9, {"name": "New"})
    moved = await t.write("PATCH", url, 1, {"client_id": (await t.client())["id"]})
    problem_of(missing, 428, "precondition-required")
    assert problem_of(stale, 412, "precondition-failed")["current_version"] == 1
    assert stale.headers["etag"] == '"1"'
    assert moved.status_code == 422
    assert pointers(moved.json()) == ["#/client_id"]
    await t.assert_unchanged("projects", rows, 1)

    same = await t.write("PATCH", url, 1, {"name": project["name"], "code": "OLD"})
    assert same.status_code == 200, same.text
    assert same.headers["etag"] == '"1"'
    await t.assert_unchanged("projects", rows, 1)

    r = await t.write("PATCH", url, 1, {"name": "New", "code": None, "budget_hours": "3"})
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"2"'
    assert (r.json()["version"], r.json()["code"], r.json()["name"]) == (2, None, "New")
    first, second = await t.project_states()
    assert (first.version, second.version) == (1, 2)
    assert (second.name, second.code, second.budget_hours) == ("New", None, Decimal("3"))
    assert str(second.client_id) == client["id"]


async def test_project_without_time_is_deleted_with_time_archived(t: Tenant) -> None:
    client = await t.client()
    member = await t.member()
    unused = await t.project(client["id"])
    used = await t.project(client["id"])
    await t.log(member["id"], used["id"], 20, hours_ago=3)

    gone = await t.write("DELETE", f"/v1/projects/{unused['id']}", 1)
    kept = await t.write("DELETE", f"/v1/projects/{used['id']}", 1)

    assert gone.status_code == 204, gone.text
    assert (await t.http.get(f"/v1/projects/{unused['id']}", headers=t.headers())).status_code == (
        404
    )
    assert kept.status_code == 200, kept.text
    assert kept.headers["etag"] == '"2"'
    assert (kept.json()["archived"], kept.json()["version"]) == (True, 2)
    assert [str(p["id"]) for p in await t.rows("projects")] == [used["id"]]
    states = await t.project_states()
    by_project = {
        pid: [(s.version, s.archived, s.deleted) for s in states if str(s.project_id) == pid]
        for pid in (unused["id"], used["id"])
    }
    assert by_project == {
        unused["id"]: [(1, False, False), (1, False, True)],
        used["id"]: [(1, False, False), (2, True, False)],
    }


@pytest.mark.parametrize("role", ["viewer", "member"])
async def test_only_managers_and_admins_write_projects(t: Tenant, role: Role) -> None:
    client = await t.client()
    project = await t.project(client["id"])
    rows = await t.rows("projects")
    headers = {"If-Match": '"1"'}
    url = f"/v1/projects/{project['id']}"

    attempts = [
        await t.http.post(
            "/v1/projects",
            json={"client_id": client["id"], "name": "Z"},
            headers={**t.headers(role), **headers},
        ),
        await t.http.patch(url, json={"name": "Z"}, headers={**t.headers(role), **headers}),
        await t.http.delete(url, headers={**t.headers(role), **headers}),
    ]

    for r in attempts:
        problem_of(r, 403, "forbidden")
    await t.assert_unchanged("projects", rows, 1)
    assert (await t.http.get(url, headers=t.headers(role))).status_code == 200
    by_manager = await t.http.patch(
        url, json={"name": "Z"}, headers={**t.headers("manager"), **headers}
    )
    assert by_manager.status_code == 200, by_manager.text


async def test_another_tenants_project_is_not_found(t: Tenant) -> None:
    project = await t.project((await t.client())["id"])
    rows = await t.rows("projects")
    intruder = Tenant(t.http, t.probe, uuid.uuid4())
    url = f"/v1/projects/{project['id']}"

    attempts = [
        await intruder.http.get(url, headers=intruder.headers()),
        await intruder.write("PATCH", url, 1, {"name": "Mine"}),
        await intruder.write("DELETE", url, 1),
    ]

    for r in attempts:
        problem_of(r, 404, "project-not-found")
    await t.assert_unchanged("projects", rows, 1)


# Members


async def test_created_member_is_readable(t: Tenant) -> None:
    sent = {
        "name": "Grace",
        "email": "grace@example.com",
        "role": "manager",
        "principal": "user-grace",
        "cost_rate_minor": 7500,
        "cost_currency": "EUR",
    }

    r = await t.http.post("/v1/members", json=sent, headers=t.headers())

    assert r.status_code == 201, r.text
    created = r.json()
    assert r.headers["location"] == f"/v1/members/{created['id']}"
    assert r.headers["etag"] == '"1"'
    assert {k: created[k] for k in sent} == sent
    assert (created["version"], created["archived"]) == (1, False)
    got = await t.http.get(f"/v1/members/{created['id']}", headers=t.headers("viewer"))
    assert got.json() == created
    [row] = await t.rows("members")
    assert (row["email"], row["cost_rate_minor"]) == ("grace@example.com", 7500)


async def test_member_email_and_principal_are_unique(t: Tenant) -> None:
    await t.member(email="taken@example.com", principal="user-1")
    other = await t.member(email="free@example.com")
    rows = await t.rows("members")

    attempts = {
        "#/email": [
            await t.http.post(
                "/v1/members",
                json={"name": "B", "email": "taken@example.com"},
                headers=t.headers(),
            ),
            await t.write("PATCH", f"/v1/members/{other['id']}", 1, {"email": "taken@example.com"}),
        ],
        "#/principal": [
            await t.http.post(
                "/v1/members",
                json={"name": "C", "email": "c@example.com", "principal": "user-1"},
                headers=t.headers(),
            ),
            await t.write("PATCH", f"/v1/members/{other['id']}", 1, {"principal": "user-1"}),
        ],
    }

    for pointer, responses in attempts.items():
        for r in responses:
            assert pointers(problem_of(r, 409, "duplicate-value")) == [pointer]
    await t.assert_unchanged("members", rows, 0)


async def test_cost_rate_and_currency_go_together(t: Tenant) -> None:
    bare = await t.member()
    paid = await t.member(cost_rate_minor=5000, cost_currency="EUR")
    rows = await t.rows("members")

    created = [
        await t.http.post(
            "/v1/members",
            json={"name": "D", "email": "d@example.com", **fields},
            headers=t.headers(),
        )
        for fields in ({"cost_rate_minor": 5000}, {"cost_currency": "EUR"})
    ]
    for r in created:
        assert r.status_code == 422, r.text
        assert "cost_rate_minor and cost_currency together" in r.text
    rate_only = await t.write("PATCH", f"/v1/members/{bare['id']}", 1, {"cost_rate_minor": 100})
    currency_cleared = await t.write(
        "PATCH", f"/v1/members/{paid['id']}", 1, {"cost_currency": None}
    )
    for r in (rate_only, currency_cleared):
        assert pointers(problem_of(r, 422, "member-invalid")) == ["#/cost_currency"]
    await t.assert_unchanged("members", rows, 0)

    both = await t.write(
        "PATCH", f"/v1/members/{bare['id']}", 1, {"cost_rate_minor": 100, "cost_currency": "USD"}
    )
    assert both.status_code == 200, both.text
    cleared = await t.write(
        "PATCH",
        f"/v1/members/{paid['id']}",
        1,
        {"cost_rate_minor": None, "cost_currency": None},
    )
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["cost_rate_minor"], cleared.json()["version"]) == (None, 2)


async def test_member_patch_is_versioned(t: Tenant) -> None:
    member = await t.member()
    url = f"/v1/members/{member['id']}"
    rows = await t.rows("members")

    problem_of(await t.write("PATCH", url, None, {"name": "B"}), 428, "precondition-required")
    stale = await t.write("PATCH", url, 2, {"name": "B"})
    problem_of(stale, 412, "precondition-failed")
    assert stale.headers["etag"] == '"1"'
    nulled = await t.write("PATCH", url, 1, {"email": None})
    assert pointers(problem_of(nulled, 422, "invalid-field")) == ["#/email"]
    await t.assert_unchanged("members", rows, 0)

    same = await t.write("PATCH", url, 1, {"name": member["name"]})
    assert (same.status_code, same.headers["etag"]) == (200, '"1"')
    r = await t.write("PATCH", url, 1, {"name": "Bea", "role": "manager"})
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"2"'
    assert (r.json()["name"], r.json()["role"], r.json()["version"]) == ("Bea", "manager", 2)
    [row] = await t.rows("members")
    assert (row["name"], row["version"]) == ("Bea", 2)


async def test_member_without_time_is_deleted_with_time_or_timer_archived(t: Tenant) -> None:
    project = await t.project((await t.client())["id"])
    idle, logged, timed = await t.member(), await t.member(), await t.member()
    await t.log(logged["id"], project["id"], 10, hours_ago=3)
    timer = await t.http.post(
        "/v1/timers",
        json={"member_id": timed["id"], "project_id": project["id"]},
        headers=t.headers(),
    )
    assert timer.status_code == 201, timer.text

    responses = {
        m["id"]: await t.write("DELETE", f"/v1/members/{m['id']}", 1)
        for m in (
            idle,
            logged,
            timed,
        )
    }

    assert responses[idle["id"]].status_code == 204
    assert (await t.http.get(f"/v1/members/{idle['id']}", headers=t.headers())).status_code == 404
    for member_id in (logged["id"], timed["id"]):
        r = responses[member_id]
        assert r.status_code == 200, r.text
        assert (r.json()["archived"], r.json()["version"]) == (True, 2)
    assert sorted(str(m["id"]) for m in await t.rows("members")) == sorted(
        [logged["id"], timed["id"]]
    )
    missing = await t.write("DELETE", f"/v1/members/{logged['id']}", None)
    problem_of(missing, 428, "precondition-required")


async def test_member_list_filters_sorts_and_pages(t: Tenant) -> None:
    made = [
        await t.member(name="zed", email="a@example.com"),
        await t.member(name="amy", email="c@example.com", role="manager"),
        await t.member(name="kim", email="b@example.com"),
    ]
    r = await t.write("DELETE", f"/v1/members/{made[2]['id']}", 1)
    assert r.status_code == 204
    kept = await t.member(name="bob", email="d@example.com")

    async def names(**params: Any) -> list[str]:
        r = await t.http.get("/v1/members", params=params, headers=t.headers("viewer"))
        assert r.status_code == 200, r.text
        return [m["name"] for m in r.json()["items"]]

    assert await names() == ["amy", "bob", "zed"]
    assert await names(sort="email") == ["zed", "amy", "bob"]
    assert await names(sort="-email") == ["bob", "amy", "zed"]
    assert await names(role="manager") == ["amy"]
    assert await names(q="B") == ["bob"]
    first = (await t.http.get("/v1/members", params={"limit": 2}, headers=t.headers())).json()
    second = (
        await t.http.get(
            "/v1/members", params={"limit": 2, "cursor": first["next_cursor"]}, headers=t.headers()
        )
    ).json()
    assert [m["name"] for m in first["items"] + second["items"]] == ["amy", "bob", "zed"]
    assert second["next_cursor"] is None
    assert kept["id"] in [m["id"] for m in first["items"]]


@pytest.mark.parametrize("role", ["viewer", "member"])
async def test_only_managers_and_admins_write_members(t: Tenant, role: Role) -> None:
    member = await t.member()
    rows = await t.rows("members")
    url = f"/v1/members/{member['id']}"
    headers = {**t.headers(role), "If-Match": '"1"'}

    attempts = [
        await t.http.post(
            "/v1/members", json={"name": "E", "email": "e@example.com"}, headers=headers
        ),
        await t.http.patch(
            url, json={"cost_rate_minor": 1, "cost_currency": "EUR"}, headers=headers
        ),
        await t.http.delete(url, headers=headers),
    ]

    for r in attempts:
        problem_of(r, 403, "forbidden")
    await t.assert_unchanged("members", rows, 0)


async def test_another_tenants_member_is_not_found(t: Tenant) -> None:
    member = await t.member()
    rows = await t.rows("members")
    intruder = Tenant(t.http, t.probe, uuid.uuid4())
    url = f"/v1/members/{member['id']}"

    attempts = [
        await intruder.http.get(url, headers=intruder.headers()),
        await intruder.write("PATCH", url, 1, {"name": "Mine"}),
        await intruder.write("DELETE", url, 1),
    ]

    for r in attempts:
        problem_of(r, 404, "member-not-found")
    await t.assert_unchanged("members", rows, 0)


async def test_member_email_is_unique_whatever_its_case(t: Tenant) -> None:
    # Imports find members by email case-insensitively, so two members may not differ by case.
    taken = await t.member(email="Ada.Lovelace@example.com")
    other = await t.member(email="grace@example.com")
    rows = await t.rows("members")

    created = await t.http.post(
        "/v1/members",
        json={"name": "Ada again", "email": "ada.lovelace@EXAMPLE.com"},
        headers=t.headers(),
    )
    renamed = await t.write(
        "PATCH", f"/v1/members/{other['id']}", 1, {"email": "ADA.LOVELACE@example.com"}
    )

    for r in (created, renamed):
        assert pointers(problem_of(r, 409, "duplicate-value")) == ["#/email"]
    await t.assert_unchanged("members", rows, 0)
    own = await t.write(
        "PATCH", f"/v1/members/{taken['id']}", 1, {"email": "ada.lovelace@example.com"}
    )
    assert own.status_code == 200, own.text


async def test_deleting_a_project_manager_keeps_the_project_editable(t: Tenant) -> None:
    manager, other = await t.member(), await t.member()
    project = await t.project((await t.client())["id"], manager_ids=[manager["id"], other["id"]])
    r = await t.write("DELETE", f"/v1/members/{manager['id']}", 1)
    assert r.status_code == 204, r.text

    got = await t.http.get(f"/v1/projects/{project['id']}", headers=t.headers())
    renamed = await t.write(
        "PATCH", f"/v1/projects/{project['id']}", got.json()["version"], {"name": "Renamed"}
    )

    assert got.json()["manager_ids"] == [other["id"]]
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["manager_ids"] == [other["id"]]

    states = await t.project_states()
    assert [s.version for s in states] == [1, 2, 3]


async def test_a_stale_manager_id_does_not_block_other_changes(t: Tenant) -> None:
    project = await t.project((await t.client())["id"])
    ghost = uuid.uuid4()
    await t.probe.infra.fetch_as_tenant(
        "timecapture",
        t.tenant_id,
        "UPDATE projects SET manager_ids = ARRAY[$1::uuid] WHERE id = $2",
        ghost,
        uuid.UUID(project["id"]),
    )

    renamed = await t.write("PATCH", f"/v1/projects/{project['id']}", 1, {"name": "Renamed"})
    added = await t.write(
        "PATCH",
        f"/v1/projects/{project['id']}",
        2,
        {"manager_ids": [str(ghost), str(uuid.uuid4())]},
    )

    assert renamed.status_code == 200, renamed.text
    assert pointers(problem_of(added, 422, "project-invalid")) == ["#/manager_ids/1"]
