"""Timers on a pinned clock, budget thresholds announced once, and the time summary report,
against the real Postgres and broker."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from servicekit.identity import IDENTITY_HEADER, Identity
from servicekit.problems import PROBLEM_JSON
from servicekit.service import create_app
from servicekit.testing import Infra, serve
from timecapture.app import define
from timecapture.settings import TimecaptureSettings

if TYPE_CHECKING:
    from conftest import Catalog, TimecaptureProbe

pytestmark = pytest.mark.integration

BUDGETS = "budget-threshold-crossed"
START = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


class PinnedClock:
    """The service's clock, moved only by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(scope="module")
def clock() -> PinnedClock:
    return PinnedClock(START)


@pytest.fixture(scope="module")
async def api(infra: Infra, clock: PinnedClock) -> AsyncIterator[httpx.AsyncClient]:
    # No invoice consumers: this module's app must not take partitions from other modules'.
    definition = dataclasses.replace(
        define(infra.settings(TimecaptureSettings)), clock=clock, subscriptions=()
    )
    async with (
        serve(create_app(definition)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        yield http


@pytest.fixture(autouse=True)
def reset_clock(clock: PinnedClock) -> None:
    clock.now = START


def problem_of(r: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    problem: dict[str, Any] = r.json()
    assert problem["type"].endswith(f"/{slug}"), problem
    return problem


async def post(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, path: str, body: Any
) -> dict[str, Any]:
    r = await api.post(path, json=body, headers=probe.headers(tenant_id))
    assert r.status_code in (200, 201), r.text
    created: dict[str, Any] = r.json()
    return created


async def log(
    api: httpx.AsyncClient,
    probe: TimecaptureProbe,
    catalog: Catalog,
    start: datetime,
    minutes: int,
    **fields: Any,
) -> dict[str, Any]:
    body = {
        "member_id": str(catalog.member_id),
        "project_id": str(catalog.project_id),
        "started_at": start.isoformat(),
        "duration_minutes": minutes,
        **fields,
    }
    return await post(api, probe, catalog.tenant_id, "/v1/time-entries", body)


async def timers_stored(probe: TimecaptureProbe, tenant_id: uuid.UUID) -> list[Any]:
    return await probe.infra.fetch_as_tenant(
        "timecapture", tenant_id, "SELECT * FROM timers ORDER BY started_at, id"
    )


# Timers


async def test_stopping_a_timer_logs_the_measured_entry_once(
    api: httpx.AsyncClient,
    probe: TimecaptureProbe,
    tenant_id: uuid.UUID,
    catalog: Catalog,
    clock: PinnedClock,
) -> None:
    timer = await post(
        api,
        probe,
        tenant_id,
        "/v1/timers",
        {
            "member_id": str(catalog.member_id),
            "project_id": str(catalog.project_id),
            "task": "review",
            "description": "code review",
            "tags": ["pr"],
        },
    )
    assert timer["started_at"] == START.isoformat().replace("+00:00", "Z")
    assert (timer["running"], timer["stopped_at"], timer["time_entry_id"]) == (True, None, None)
    clock.advance(minutes=42, seconds=7)

    r = await api.post(f"/v1/timers/{timer['id']}/stop", headers=probe.headers(tenant_id))

    assert r.status_code == 200, r.text
    stopped, entry = r.json()["timer"], r.json()["time_entry"]
    assert (stopped["running"], stopped["time_entry_id"]) == (False, entry["id"])
    assert entry["duration_seconds"] == 42 * 60 + 7
    assert (entry["task"], entry["description"], entry["tags"]) == ("review", "code review", ["pr"])
    assert entry["billable"] is True  # the project's default
    assert entry["cost_minor"] == 4212  # 2527 s at 60.00 EUR an hour
    got = await api.get(f"/v1/timers/{timer['id']}", headers=probe.headers(tenant_id))
    assert got.json() == stopped
    [row] = await probe.entries(tenant_id)
    assert (str(row["id"]), row["started_at"], row["ended_at"]) == (
        entry["id"],
        START,
        START + timedelta(minutes=42, seconds=7),
    )
    await probe.outbox_drained(tenant_id)
    [message] = await probe.published(tenant_id)
    assert message.event.event_type == "time_entry.logged"
    assert str(message.event.payload.entry_id) == entry["id"]
    assert message.event.payload.duration_seconds == 42 * 60 + 7

    again = await api.post(f"/v1/timers/{timer['id']}/stop", headers=probe.headers(tenant_id))
    assert problem_of(again, 409, "timer-stopped")["time_entry_id"] == entry["id"]
    discard = await api.delete(f"/v1/timers/{timer['id']}", headers=probe.headers(tenant_id))
    problem_of(discard, 409, "timer-stopped")
    assert len(await probe.entries(tenant_id)) == 1
    assert len(await probe.published(tenant_id)) == 1


async def test_one_running_timer_per_member(
    api: httpx.AsyncClient,
    probe: TimecaptureProbe,
    tenant_id: uuid.UUID,
    catalog: Catalog,
    clock: PinnedClock,
) -> None:
    body = {"member_id": str(catalog.member_id), "project_id": str(catalog.project_id)}
    first = await post(api, probe, tenant_id, "/v1/timers", body)
    clock.advance(minutes=5)
    stored = await timers_stored(probe, tenant_id)

    r = await api.post("/v1/timers", json=body, headers=probe.headers(tenant_id))

    assert problem_of(r, 409, "timer-already-running")["running_timer_id"] == first["id"]
    assert await timers_stored(probe, tenant_id) == stored
    other = await post(
        api,
        probe,
        tenant_id,
        "/v1/members",
        {"name": "Bo", "email": f"{uuid.uuid4().hex[:8]}@example.com"},
    )
    await post(api, probe, tenant_id, "/v1/timers", {**body, "member_id": other["id"]})
    running = await api.get(
        "/v1/timers", params={"running": "true"}, headers=probe.headers(tenant_id)
    )
    assert len(running.json()["items"]) == 2

    stopped = await api.post(f"/v1/timers/{first['id']}/stop", headers=probe.headers(tenant_id))
    assert stopped.status_code == 200, stopped.text
    clock.advance(minutes=1)
    restarted = await api.post("/v1/timers", json=body, headers=probe.headers(tenant_id))
    assert restarted.status_code == 201, restarted.text
    mine = await api.get(
        "/v1/timers",
        params={"member_id": str(catalog.member_id)},
        headers=probe.headers(tenant_id),
    )
    assert [t["id"] for t in mine.json()["items"]] == [restarted.json()["id"], first["id"]]


async def test_concurrent_starts_for_one_member_run_one_timer(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    body = {"member_id": str(catalog.member_id), "project_id": str(catalog.project_id)}

    responses = await asyncio.gather(
        *(api.post("/v1/timers", json=body, headers=probe.headers(tenant_id)) for _ in range(10))
    )

    assert sorted(r.status_code for r in responses) == [201] + [409] * 9
    [timer] = [r.json() for r in responses if r.status_code == 201]
    assert {r.json()["running_timer_id"] for r in responses if r.status_code == 409} == {
        timer["id"]
    }
    assert [str(t["id"]) for t in await timers_stored(probe, tenant_id)] == [timer["id"]]


async def test_timers_started_at_one_instant_page_without_repeats(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    started = set()
    for n in range(5):
        member = await post(
            api, probe, tenant_id, "/v1/members", {"name": f"M{n}", "email": f"m{n}@example.com"}
        )
        body = {"member_id": member["id"], "project_id": str(catalog.project_id)}
        started.add((await post(api, probe, tenant_id, "/v1/timers", body))["id"])

    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await api.get("/v1/timers", params=params, headers=probe.headers(tenant_id))
        assert r.status_code == 200, r.text
        seen += [t["id"] for t in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break

    assert cursor is None
    assert sorted(seen) == sorted(started)
    assert seen == sorted(seen, reverse=True)  # ties in started_at: newest id first


async def test_timers_of_others_and_other_tenants(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    colleague = await post(
        api,
        probe,
        tenant_id,
        "/v1/members",
        {"name": "Di", "email": f"{uuid.uuid4().hex[:8]}@example.com"},
    )
    timer = await post(
        api,
        probe,
        tenant_id,
        "/v1/timers",
        {"member_id": colleague["id"], "project_id": str(catalog.project_id)},
    )
    me = {IDENTITY_HEADER: probe.infra.token(Identity(tenant_id, "tester", "member"))}
    intruder = probe.headers(uuid.uuid4())
    url = f"/v1/timers/{timer['id']}"

    problem_of(await api.post(f"{url}/stop", headers=me), 403, "not-your-time")
    problem_of(await api.delete(url, headers=me), 403, "not-your-time")
    problem_of(await api.get(url, headers=intruder), 404, "timer-not-found")
    problem_of(await api.post(f"{url}/stop", headers=intruder), 404, "timer-not-found")
    problem_of(await api.delete(url, headers=intruder), 404, "timer-not-found")
    [row] = await timers_stored(probe, tenant_id)
    assert row["stopped_at"] is None
    await probe.assert_nothing_written(tenant_id)


async def test_discarded_timer_logs_nothing(
    api: httpx.AsyncClient,
    probe: TimecaptureProbe,
    tenant_id: uuid.UUID,
    catalog: Catalog,
    clock: PinnedClock,
) -> None:
    body = {"member_id": str(catalog.member_id), "project_id": str(catalog.project_id)}
    timer = await post(api, probe, tenant_id, "/v1/timers", body)
    clock.advance(minutes=30)

    r = await api.delete(f"/v1/timers/{timer['id']}", headers=probe.headers(tenant_id))

    assert r.status_code == 204, r.text
    assert await timers_stored(probe, tenant_id) == []
    problem_of(
        await api.post(f"/v1/timers/{timer['id']}/stop", headers=probe.headers(tenant_id)),
        404,
        "timer-not-found",
    )
    await probe.assert_nothing_written(tenant_id)
    again = await api.post("/v1/timers", json=body, headers=probe.headers(tenant_id))
    assert again.status_code == 201, again.text


async def test_timer_rules_follow_entry_rules(
    api: httpx.AsyncClient,
    probe: TimecaptureProbe,
    tenant_id: uuid.UUID,
    catalog: Catalog,
    clock: PinnedClock,
) -> None:
    body = {"member_id": str(catalog.member_id), "project_id": str(catalog.project_id)}
    colleague = await post(
        api,
        probe,
        tenant_id,
        "/v1/members",
        {"name": "Cy", "email": f"{uuid.uuid4().hex[:8]}@example.com"},
    )
    member = {IDENTITY_HEADER: probe.infra.token(Identity(tenant_id, "tester", "member"))}
    viewer = {IDENTITY_HEADER: probe.infra.token(Identity(tenant_id, "tester", "viewer"))}

    theirs = await api.post(
        "/v1/timers", json={**body, "member_id": colleague["id"]}, headers=member
    )
    problem_of(theirs, 403, "not-your-time")
    problem_of(await api.post("/v1/timers", json=body, headers=viewer), 403, "forbidden")
    unknown = await api.post(
        "/v1/timers",
        json={**body, "project_id": str(uuid.uuid4())},
        headers=probe.headers(tenant_id),
    )
    assert problem_of(unknown, 422, "time-entry-invalid")["errors"][0]["pointer"] == "#/project_id"
    assert await timers_stored(probe, tenant_id) == []

    mine = await api.post("/v1/timers", json=body, headers=member)
    assert mine.status_code == 201, mine.text
    clock.advance(hours=25)
    too_long = await api.post(f"/v1/timers/{mine.json()['id']}/stop", headers=member)
    assert problem_of(too_long, 422, "time-entry-invalid")["errors"][0]["pointer"] == "#/ended_at"
    [row] = await timers_stored(probe, tenant_id)
    assert row["stopped_at"] is None
    await probe.assert_nothing_written(tenant_id)
    discarded = await api.delete(f"/v1/timers/{mine.json()['id']}", headers=member)
    assert discarded.status_code == 204, discarded.text


async def test_stopping_a_timer_under_a_second_is_422_and_keeps_it_running(
    api: httpx.AsyncClient,
    probe: TimecaptureProbe,
    tenant_id: uuid.UUID,
    catalog: Catalog,
    clock: PinnedClock,
) -> None:
    body = {"member_id": str(catalog.member_id), "project_id": str(catalog.project_id)}
    timer = await post(api, probe, tenant_id, "/v1/timers", body)
    clock.advance(milliseconds=500)

    r = await api.post(f"/v1/timers/{timer['id']}/stop", headers=probe.headers(tenant_id))

    [error] = problem_of(r, 422, "time-entry-invalid")["errors"]
    assert error == {"pointer": "#/ended_at", "detail": "an entry lasts at least one second"}
    [row] = await timers_stored(probe, tenant_id)
    assert (row["stopped_at"], row["time_entry_id"]) == (None, None)
    await probe.assert_nothing_written(tenant_id)
    clock.advance(seconds=1)
    later = await api.post(f"/v1/timers/{timer['id']}/stop", headers=probe.headers(tenant_id))
    assert later.status_code == 200, later.text
    assert later.json()["time_entry"]["duration_seconds"] == 1


async def test_stopping_into_logged_time_is_409_and_keeps_the_timer_running(
    api: httpx.AsyncClient,
    probe: TimecaptureProbe,
    tenant_id: uuid.UUID,
    catalog: Catalog,
    clock: PinnedClock,
) -> None:
    body = {"member_id": str(catalog.member_id), "project_id": str(catalog.project_id)}
    timer = await post(api, probe, tenant_id, "/v1/timers", body)
    clock.advance(hours=2)
    logged = await log(api, probe, catalog, START + timedelta(minutes=30), 20)
    await probe.outbox_drained(tenant_id)

    r = await api.post(f"/v1/timers/{timer['id']}/stop", headers=probe.headers(tenant_id))

    assert problem_of(r, 409, "time-entry-overlaps")["overlapping_entry_id"] == logged["id"]
    [row] = await timers_stored(probe, tenant_id)
    assert (row["stopped_at"], row["time_entry_id"]) == (None, None)
    assert [str(e["id"]) for e in await probe.entries(tenant_id)] == [logged["id"]]
    assert await probe.outbox(tenant_id) == []
    assert len(await probe.published(tenant_id)) == 1


# Budgets


async def crossings(probe: TimecaptureProbe, tenant_id: uuid.UUID) -> list[Any]:
    await probe.outbox_drained(tenant_id)
    events = await probe.events_on(BUDGETS, tenant_id)
    assert all(e.event_type == "project.budget_threshold_crossed" for _, e in events)
    assert all(key == str(e.payload.project_id).encode() for key, e in events)
    return [e.payload for _, e in events]


async def budget(
    api: httpx.AsyncClient, probe: TimecaptureProbe, catalog: Catalog, at: int, **fields: Any
) -> None:
    r = await api.patch(
        f"/v1/projects/{catalog.project_id}",
        json=fields,
        headers={**probe.headers(catalog.tenant_id), "If-Match": f'"{at}"'},
    )
    assert r.status_code == 200, r.text


async def test_each_hours_threshold_is_announced_once(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    await budget(api, probe, catalog, 1, budget_hours="1")
    day = START - timedelta(days=1)

    await log(api, probe, catalog, day, 40)  # 66 %
    assert await crossings(probe, tenant_id) == []
    e2 = await log(api, probe, catalog, day + timedelta(hours=1), 10, billable=False)  # 83 %
    e3 = await log(api, probe, catalog, day + timedelta(hours=2), 5)  # 91 %
    [eighty] = await crossings(probe, tenant_id)
    e4 = await log(api, probe, catalog, day + timedelta(hours=3), 10)  # 108 %
    await log(api, probe, catalog, day + timedelta(hours=4), 5)  # 116 %

    eighty, hundred = await crossings(probe, tenant_id)
    assert (eighty.threshold_percent, hundred.threshold_percent) == (80, 100)
    assert {eighty.budget_kind, hundred.budget_kind} == {"hours"}
    assert eighty.budget == hundred.budget == 3600
    assert (eighty.consumed, hundred.consumed) == (50 * 60, 65 * 60)
    assert (str(eighty.time_entry_id), str(hundred.time_entry_id)) == (e2["id"], e4["id"])
    assert eighty.currency is None
    assert str(eighty.client_id) == str(catalog.client_id)

    # Falling below 100 % and rising again does not announce it again.
    for gone in (e3, e4):
        r = await api.delete(
            f"/v1/time-entries/{gone['id']}",
            headers={**probe.headers(tenant_id), "If-Match": '"1"'},
        )
        assert r.status_code == 204, r.text
    usage = await api.get(f"/v1/projects/{catalog.project_id}", headers=probe.headers(tenant_id))
    assert usage.json()["usage"]["hours_percent"] == "91.7"  # 3300 s
    await log(api, probe, catalog, day + timedelta(hours=5), 15)
    assert len(await crossings(probe, tenant_id)) == 2


async def test_concurrent_entries_crossing_a_threshold_announce_it_once(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    await budget(api, probe, catalog, 1, budget_hours="1")
    members = [
        await post(
            api,
            probe,
            tenant_id,
            "/v1/members",
            {"name": f"P{n}", "email": f"{uuid.uuid4().hex[:8]}@example.com"},
        )
        for n in range(8)
    ]
    day = START - timedelta(days=1)

    # Eight members log 10 minutes each at once: 133 % of the budget, crossing 80 % and 100 %.
    responses = await asyncio.gather(
        *(
            api.post(
                "/v1/time-entries",
                json={
                    "member_id": m["id"],
                    "project_id": str(catalog.project_id),
                    "started_at": day.isoformat(),
                    "duration_minutes": 10,
                },
                headers=probe.headers(tenant_id),
            )
            for m in members
        )
    )

    assert {r.status_code for r in responses} == {201}
    found = await crossings(probe, tenant_id)
    assert sorted(c.threshold_percent for c in found) == [80, 100]
    assert sorted(c.consumed for c in found) == [3000, 3600]


async def test_amount_threshold_counts_priced_time_only(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    # 60.00 EUR an hour against a 100.00 EUR budget: 80 % at 80 minutes.
    await budget(api, probe, catalog, 1, budget_amount_minor=10000)
    day = START - timedelta(days=1)
    unpriced = await post(
        api,
        probe,
        tenant_id,
        "/v1/members",
        {"name": "Free", "email": f"{uuid.uuid4().hex[:8]}@example.com"},
    )
    await log(api, probe, catalog, day, 300, member_id=unpriced["id"])
    await log(api, probe, catalog, day, 70)
    assert await crossings(probe, tenant_id) == []

    crossing = await log(api, probe, catalog, day + timedelta(hours=2), 10)

    [eighty] = await crossings(probe, tenant_id)
    assert (eighty.budget_kind, eighty.threshold_percent) == ("amount", 80)
    assert (eighty.budget, eighty.consumed, eighty.currency) == (10000, 8000, "EUR")
    assert str(eighty.time_entry_id) == crossing["id"]


async def test_a_changed_budget_is_checked_at_once_and_re_armed(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    await budget(api, probe, catalog, 1, budget_hours="2")
    day = START - timedelta(days=1)
    await log(api, probe, catalog, day, 100)  # 83 % of 2 h
    [first] = await crossings(probe, tenant_id)
    assert (first.threshold_percent, first.budget) == (80, 7200)

    await budget(api, probe, catalog, 2, budget_hours="1.5")  # 111 % of 1.5 h

    found = await crossings(probe, tenant_id)
    assert [(c.threshold_percent, c.budget) for c in found] == [
        (80, 7200),
        (80, 5400),
        (100, 5400),
    ]
    assert found[1].time_entry_id is None
    await budget(api, probe, catalog, 3, budget_hours="2")
    await budget(api, probe, catalog, 4, name="Renamed")
    assert len(await crossings(probe, tenant_id)) == 3


# Time summary


async def summary(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, **params: Any
) -> dict[str, Any]:
    r = await api.get("/v1/reports/time-summary", params=params, headers=probe.headers(tenant_id))
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


def cells(report: dict[str, Any]) -> list[tuple[str, str, int, int, int]]:
    return [
        (
            r["period_start"],
            r["group_id"],
            r["billable_seconds"],
            r["non_billable_seconds"],
            r["entries"],
        )
        for r in report["rows"]
    ]


async def test_summary_totals_per_day_week_and_month_by_member_project_and_client(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    client, project, member = (
        str(catalog.client_id),
        str(catalog.project_id),
        str(catalog.member_id),
    )
    other_project = await post(
        api, probe, tenant_id, "/v1/projects", {"client_id": client, "name": "Other"}
    )
    other_member = await post(
        api,
        probe,
        tenant_id,
        "/v1/members",
        {"name": "Bo", "email": f"{uuid.uuid4().hex[:8]}@example.com"},
    )
    # Friday 28 Feb, Monday 3 Mar and Tuesday 4 Mar 2025.
    fri, mon, tue = (datetime(2025, m, d, 9, tzinfo=UTC) for m, d in ((2, 28), (3, 3), (3, 4)))
    await log(api, probe, catalog, fri, 60)
    await log(api, probe, catalog, mon, 30, billable=False)
    await log(api, probe, catalog, mon + timedelta(hours=2), 45)
    await log(api, probe, catalog, tue, 90, project_id=other_project["id"])
    await log(api, probe, catalog, tue, 20, member_id=other_member["id"])
    deleted = await log(api, probe, catalog, tue + timedelta(hours=3), 600)
    r = await api.delete(
        f"/v1/time-entries/{deleted['id']}",
        headers={**probe.headers(tenant_id), "If-Match": '"1"'},
    )
    assert r.status_code == 204
    span = {"from": "2025-02-24", "to": "2025-03-09"}

    by_day = await summary(api, probe, tenant_id, period="day", group_by="member", **span)
    assert cells(by_day) == sorted(
        [
            ("2025-02-28", member, 3600, 0, 1),
            ("2025-03-03", member, 45 * 60, 30 * 60, 2),
            ("2025-03-04", member, 90 * 60, 0, 1),
            ("2025-03-04", other_member["id"], 20 * 60, 0, 1),
        ]
    )
    totals = by_day["totals"]
    assert (totals["billable_seconds"], totals["non_billable_seconds"]) == (215 * 60, 30 * 60)
    assert (totals["total_seconds"], totals["entries"]) == (245 * 60, 5)
    assert (totals["billable_hours"], totals["total_hours"]) == ("3.58", "4.08")
    assert (by_day["from"], by_day["to"], by_day["timezone"]) == ("2025-02-24", "2025-03-09", "UTC")

    by_week = await summary(api, probe, tenant_id, period="week", group_by="project", **span)
    assert cells(by_week) == sorted(
        [
            ("2025-02-24", project, 3600, 0, 1),
            ("2025-03-03", project, 65 * 60, 30 * 60, 3),
            ("2025-03-03", other_project["id"], 90 * 60, 0, 1),
        ]
    )

    by_month = await summary(api, probe, tenant_id, period="month", group_by="client", **span)
    assert cells(by_month) == [
        ("2025-02-01", client, 3600, 0, 1),
        ("2025-03-01", client, 155 * 60, 30 * 60, 4),
    ]
    assert by_month["rows"][1]["total_hours"] == "3.08"

    filtered = await summary(
        api,
        probe,
        tenant_id,
        period="month",
        group_by="member",
        project_id=other_project["id"],
        **span,
    )
    assert cells(filtered) == [("2025-03-01", member, 90 * 60, 0, 1)]
    elsewhere = await summary(api, probe, uuid.uuid4(), period="month", **span)
    assert (elsewhere["rows"], elsewhere["totals"]["entries"]) == ([], 0)


async def test_summary_counts_an_entry_on_its_local_day(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    # 23:30 UTC on Sunday 2 March is 00:30 on Monday 3 March in Berlin: another day and week.
    await log(api, probe, catalog, datetime(2025, 3, 2, 23, 30, tzinfo=UTC), 20)
    project = str(catalog.project_id)

    utc = await summary(
        api,
        probe,
        tenant_id,
        period="day",
        group_by="project",
        **{"from": "2025-03-02"},
        to="2025-03-02",
    )
    berlin_day = await summary(
        api,
        probe,
        tenant_id,
        period="day",
        timezone="Europe/Berlin",
        **{"from": "2025-03-03"},
        to="2025-03-03",
    )
    berlin_week = await summary(
        api,
        probe,
        tenant_id,
        period="week",
        timezone="Europe/Berlin",
        **{"from": "2025-03-01"},
        to="2025-03-09",
    )
    berlin_before = await summary(
        api,
        probe,
        tenant_id,
        period="day",
        timezone="Europe/Berlin",
        **{"from": "2025-03-02"},
        to="2025-03-02",
    )

    assert cells(utc) == [("2025-03-02", project, 1200, 0, 1)]
    assert cells(berlin_day) == [("2025-03-03", project, 1200, 0, 1)]
    assert cells(berlin_week) == [("2025-03-03", project, 1200, 0, 1)]
    assert berlin_before["rows"] == []
    assert berlin_day["timezone"] == "Europe/Berlin"


BAD_SUMMARIES: dict[str, tuple[dict[str, Any], str]] = {
    "unknown-zone": ({"timezone": "Mars/Olympus"}, "timezone"),
    "path-as-zone": ({"timezone": "../../etc/passwd"}, "timezone"),
    "to-before-from": ({"from": "2025-03-09", "to": "2025-03-01"}, "to"),
    "too-many-days": ({"from": "2024-01-01", "to": "2025-03-01", "period": "day"}, "to"),
    "bad-period": ({"period": "year"}, "period"),
    "bad-group": ({"group_by": "task"}, "group_by"),
    "no-from": ({"from": None}, "from"),
    "last-day-of-the-calendar": ({"from": "9999-12-30", "to": "9999-12-31"}, "to"),
    "first-day-east-of-utc": (
        {"from": "0001-01-01", "to": "0001-01-02", "timezone": "Europe/Berlin"},
        "from",
    ),
}


@pytest.mark.parametrize(("params", "parameter"), BAD_SUMMARIES.values(), ids=BAD_SUMMARIES)
async def test_bad_summary_parameter_is_422_naming_it(
    api: httpx.AsyncClient,
    probe: TimecaptureProbe,
    tenant_id: uuid.UUID,
    params: dict[str, Any],
    parameter: str,
) -> None:
    query = {"from": "2025-03-01", "to": "2025-03-09", **params}
    query = {k: v for k, v in query.items() if v is not None}

    r = await api.get("/v1/reports/time-summary", params=query, headers=probe.headers(tenant_id))

    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    assert [e["parameter"] for e in r.json()["errors"]] == [parameter]


async def test_summary_is_readable_by_viewers(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID
) -> None:
    viewer = {IDENTITY_HEADER: probe.infra.token(Identity(tenant_id, "v", "viewer"))}

    r = await api.get(
        "/v1/reports/time-summary",
        params={"from": date(2025, 3, 1).isoformat(), "to": "2025-03-02"},
        headers=viewer,
    )

    assert r.status_code == 200, r.text
    assert r.json()["period"] == "week"
    assert r.json()["group_by"] == "project"


async def test_summary_seconds_are_the_sum_of_the_entries_durations(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    start = datetime(2025, 3, 3, 9, tzinfo=UTC)
    logged = [
        await log(
            api,
            probe,
            catalog,
            start + timedelta(hours=n),
            0,
            duration_minutes=None,
            ended_at=(start + timedelta(hours=n, minutes=30, seconds=0.6)).isoformat(),
        )
        for n in range(2)
    ]

    report = await summary(
        api, probe, tenant_id, period="day", **{"from": "2025-03-03"}, to="2025-03-03"
    )

    assert [e["duration_seconds"] for e in logged] == [1800, 1800]
    assert report["totals"]["total_seconds"] == 3600
